-- The master's tables at version 1 (also a version-1 replica's).
CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, price numeric(8,2));
CREATE TABLE tag (id integer PRIMARY KEY, label varchar(20) NOT NULL);
CREATE TABLE note (id integer PRIMARY KEY, body text);

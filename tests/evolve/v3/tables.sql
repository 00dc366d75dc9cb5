-- A version-3 replica's tables, for a mirror that starts from an export taken after the change.
CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL, qty text NOT NULL, price numeric(12,2) NOT NULL, weight_grams integer NOT NULL);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'great');
CREATE TABLE tag (id bigint PRIMARY KEY, title text NOT NULL, color text, mood mood);
CREATE SCHEMA storage;
CREATE TABLE storage.shelf (id integer PRIMARY KEY, name text NOT NULL, floor smallint NOT NULL);

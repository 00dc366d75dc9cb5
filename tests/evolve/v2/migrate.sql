-- The application's own migration from version 1 to 2, each step in its own transaction.
ALTER TABLE item ALTER COLUMN qty TYPE bigint;
ALTER TABLE item ALTER COLUMN price TYPE numeric(12,2);
ALTER TABLE item ADD COLUMN weight_grams integer NOT NULL DEFAULT 0;
UPDATE item SET weight_grams = id * 10 WHERE id % 3 = 0;
ALTER TABLE tag ALTER COLUMN label TYPE text;
ALTER TABLE tag ADD COLUMN color text;
CREATE TYPE mood AS ENUM ('sad', 'ok');
ALTER TABLE tag ADD COLUMN mood mood;
DROP TABLE note;
CREATE TABLE shelf (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO shelf SELECT g, 'shelf ' || g FROM generate_series(1, 50) g;

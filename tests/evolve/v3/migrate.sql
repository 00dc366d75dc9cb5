-- The application's own migration from version 2 to 3. A key column's type change first drops
-- the capture's key-update trigger (its WHEN clause reads the key; the next install recreates
-- it); the boundary packet then reloads the table.
ALTER TABLE item ALTER COLUMN qty TYPE text USING 'qty:' || qty;
UPDATE item SET price = 0 WHERE price IS NULL;
ALTER TABLE item ALTER COLUMN price SET NOT NULL;
DROP TRIGGER IF EXISTS replgen_key_update ON tag;
ALTER TABLE tag ALTER COLUMN id TYPE bigint;
UPDATE tag SET id = id + 100000 WHERE id % 17 = 0;
CREATE SCHEMA storage;
ALTER TABLE shelf SET SCHEMA storage;
ALTER TABLE storage.shelf ADD COLUMN floor smallint NOT NULL DEFAULT 1;
ALTER TYPE mood ADD VALUE 'great';
ALTER TABLE tag RENAME COLUMN label TO title;

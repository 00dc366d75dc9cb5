-- The quickstart's later writes: updates, deletes, a primary-key change, a unique-value swap,
-- a TRUNCATE, and new rows.
BEGIN;
UPDATE artist SET comment = 'updated', last_updated = now() WHERE id % 10 = 0;
DELETE FROM track WHERE id % 7 = 0;
UPDATE recording SET length = NULL WHERE id % 3 = 0;
-- A primary-key change travels as REMOVE of the old key and ADD of the new one.
UPDATE artist_credit_name SET position = 5 WHERE artist_credit = 1 AND position = 1;
-- Two artists swap their unique gids (through a placeholder: the index is not deferrable);
-- the packet carries both new rows, and apply must not trip over the unique index.
UPDATE artist SET gid = '99999999-0000-4000-a000-000000000000' WHERE id = 1;
UPDATE artist SET gid = '10000000-0000-4000-a000-000000000001' WHERE id = 2;
UPDATE artist SET gid = '10000000-0000-4000-a000-000000000002' WHERE id = 1;
TRUNCATE artist_gid_redirect;
INSERT INTO artist_gid_redirect (gid, new_id) VALUES ('80000000-0000-4000-a000-000000000001', 1);
INSERT INTO tag (id, name, aliases) VALUES (1000, E'new\ttag', '{}');
COMMIT;

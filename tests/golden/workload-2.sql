-- The second packet: an update, a delete, a key change, a row added and removed again, a TRUNCATE.
UPDATE artist SET comment = 'updated' WHERE id = 1;
DELETE FROM artist WHERE id = 3;
UPDATE artist_credit_name SET position = 5 WHERE artist_credit = 1 AND position = 1;
INSERT INTO artist_gid_redirect (gid, new_id) VALUES ('70000000-0000-4000-a000-000000000002', 2);
DELETE FROM artist_gid_redirect WHERE new_id = 2;
TRUNCATE replication_control_note;

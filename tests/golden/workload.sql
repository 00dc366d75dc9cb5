-- A small fixed workload for the packet and index golden test.
INSERT INTO artist (id, gid, name, sort_name, begin_date, comment, rating, popularity, coordinates, fluency, last_updated)
VALUES (1, '10000000-0000-4000-a000-000000000001', E'tab\there', 'One', '0044-03-15 BC', '\N', 'NaN', '-0', '(1.5,-2)', 'native', '2026-01-02 03:04:05.123456+00'),
       (2, '10000000-0000-4000-a000-000000000002', E'new\nline', 'Two', NULL, 'back\slash', 1.5, 1e300, NULL, NULL, NULL),
       (3, '10000000-0000-4000-a000-000000000003', 'three', 'Three', 'infinity', '', NULL, NULL, NULL, 'basic', '-infinity');
INSERT INTO artist_credit_name (artist_credit, position, artist, name, join_phrase)
VALUES (1, 0, 1, 'One', ' & '), (1, 1, 2, 'Two', '');
INSERT INTO artist_gid_redirect (gid, new_id, created) VALUES ('70000000-0000-4000-a000-000000000001', 1, '2000-01-01 00:00:00+00');
INSERT INTO replication_control_note (code, body, attributes, client_addr, opens_at, created_local, checksum)
VALUES (E'key\twith tab', '{"a": 1,  "a": 2}', '{"b": [1, 2.50, null]}', '192.168.1.5/24', '23:59:59.999999', '-infinity', '\x00ff');

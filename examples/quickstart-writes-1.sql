-- The quickstart's first writes on the master: a small MusicBrainz-like catalogue, with a few
-- values that are hard to carry (tabs, newlines, backslashes, `\N` as text, NaN, BC dates).
BEGIN;
INSERT INTO area (id, gid, name, type, begin_date_year, comment)
SELECT i, ('00000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, 'Area ' || i, 1, (1900 + i)::smallint, ''
FROM generate_series(1, 50) i;

INSERT INTO artist (id, gid, name, sort_name, begin_date, type, area, comment, rating, popularity, coordinates, fluency)
SELECT i, ('10000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid,
       'Artist ' || i, 'Artist, The ' || i,
       CASE WHEN i % 17 = 0 THEN '0044-03-15 BC'::date ELSE date '1950-01-01' + i END,
       1 + i % 3, 1 + i % 50,
       CASE i % 5 WHEN 0 THEN E'tab\there' WHEN 1 THEN E'new\nline' WHEN 2 THEN 'back\slash' WHEN 3 THEN '\N' ELSE '' END,
       CASE WHEN i % 11 = 0 THEN 'NaN'::real ELSE (i % 100)::real / 10 END,
       i::float8 / 7, point(i, -i), (ARRAY['basic', 'intermediate', 'advanced', 'native']::fluency[])[1 + i % 4]
FROM generate_series(1, 2000) i;

INSERT INTO artist_credit (id, name, artist_count, ref_count, gid)
SELECT i, 'Artist ' || i, 1, 1, ('20000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid
FROM generate_series(1, 2000) i;

INSERT INTO artist_credit_name (artist_credit, position, artist, name, join_phrase)
SELECT i, p::smallint, i, 'Artist ' || i, CASE WHEN p = 0 THEN ' & ' ELSE '' END
FROM generate_series(1, 2000) i, generate_series(0, 1) p;

INSERT INTO release_group (id, gid, name, artist_credit, type, secondary_types)
SELECT i, ('30000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, 'Album ' || i, 1 + i % 2000, 1,
       CASE WHEN i % 3 = 0 THEN ARRAY[1, 2]::smallint[] WHEN i % 3 = 1 THEN '{}' END
FROM generate_series(1, 3000) i;

INSERT INTO release (id, gid, name, artist_credit, release_group, status, barcode, price, quality)
SELECT i, ('40000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, 'Album ' || i, 1 + i % 2000, i, 1,
       lpad(i::text, 12, '0'), (i % 5000)::numeric / 100, -1
FROM generate_series(1, 3000) i;

INSERT INTO medium (id, release, position, format, name, track_count, cover_art)
SELECT i, i, 1, 1, '', 10, CASE WHEN i % 100 = 0 THEN decode(md5(i::text), 'hex') END
FROM generate_series(1, 3000) i;

INSERT INTO recording (id, gid, name, artist_credit, length, video)
SELECT i, ('50000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, 'Song ' || i, 1 + i % 2000, 180000 + i, i % 50 = 0
FROM generate_series(1, 30000) i;

INSERT INTO track (id, gid, recording, medium, position, number, name, artist_credit, length, duration)
SELECT i, ('60000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, i, 1 + (i - 1) / 10, 1 + (i - 1) % 10,
       (1 + (i - 1) % 10)::text, 'Song ' || i, 1 + i % 2000, 180000 + i, make_interval(secs => 180 + i % 60)
FROM generate_series(1, 30000) i;

INSERT INTO tag (id, name, ref_count, aliases)
SELECT i, 'tag ' || i, i, ARRAY['alias ' || i, NULL, E'with "quotes" and \\']
FROM generate_series(1, 200) i;

INSERT INTO artist_tag (artist, tag, count)
SELECT 1 + i % 2000, 1 + i % 200, i FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING;

INSERT INTO artist_gid_redirect (gid, new_id)
SELECT ('70000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, i FROM generate_series(1, 100) i;

INSERT INTO replication_control_note (code, body, attributes, client_addr, opens_at, created_local, checksum)
VALUES (E'key\twith tab', '{"a": 1,  "a": 2}', '{"nested": [1, 2.50, null]}', '192.168.1.5/24', '23:59:59.999999',
        'infinity', '\x00ff10'),
       ('plain', NULL, NULL, '::1', '00:00', '2026-11-28 15:00:00.123456', NULL);

INSERT INTO musicbrainz.editor_note (id, editor, note, country, mentions, fluency)
SELECT i, i, 'Note ' || i || E'\nsecond line', 'GB', ARRAY[i, NULL, i + 1], 'native'
FROM generate_series(1, 500) i;
COMMIT;

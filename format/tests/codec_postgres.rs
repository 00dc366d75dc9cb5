//! The codecs against a real PostgreSQL: rows with every must-work type and their edge values
//! are read with `COPY ... TO STDOUT`, decoded through a derived struct, re-encoded (which must
//! give back the very bytes PostgreSQL printed), written into a second identical table with
//! `COPY ... FROM STDIN`, and the two tables compared with `EXCEPT` both ways.

use replgen_format::codec::FieldSplitter;
use replgen_format::types::*;
use replgen_format::Replicated;
use std::io::{Read, Write};

#[derive(Replicated, Debug)]
#[replicated(schema = "tests/codec_schema.yaml", table = "every_type", id = 1)]
pub struct EveryType {
    pub id: i32,
    pub c_smallint: Option<i16>,
    pub c_bigint: Option<i64>,
    pub c_bool: Option<bool>,
    pub c_real: Option<f32>,
    pub c_double: Option<f64>,
    pub c_numeric: Option<Numeric>,
    pub c_numeric_ps: Option<Numeric>,
    pub c_text: Option<String>,
    pub c_varchar: Option<String>,
    pub c_char: Option<String>,
    pub c_uuid: Option<Uuid>,
    pub c_date: Option<Date>,
    pub c_time: Option<Time>,
    pub c_timetz: Option<TimeTz>,
    pub c_ts: Option<Timestamp>,
    pub c_tstz: Option<TimestampTz>,
    pub c_interval: Option<Interval>,
    pub c_bytea: Option<Bytea>,
    pub c_json: Option<Json>,
    pub c_jsonb: Option<Jsonb>,
    pub c_inet: Option<Inet>,
    pub c_cidr: Option<Cidr>,
    pub c_enum: Option<PgText>,
    pub c_domain: Option<PgText>,
    pub c_point: Option<PgText>,
    pub c_int_arr: Option<Array<i32>>,
    pub c_text_arr: Option<Array<String>>,
    pub c_float_arr: Option<Array<f64>>,
    pub c_numeric_arr: Option<Array<Numeric>>,
    pub c_date_arr: Option<Array<Date>>,
    pub c_bytea_arr: Option<Array<Bytea>>,
    pub c_enum_arr: Option<Array<PgText>>,
    pub c_point_arr: Option<Array<PgText>>,
    pub c_uuid_arr: Option<Array<Uuid>>,
    pub c_ts_arr: Option<Array<TimestampTz>>,
}

/// The session settings of docs/design.md.
const SESSION: &str =
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; \
     SET extra_float_digits = 1; SET bytea_output = hex; SET client_encoding = 'UTF8';";

const SETUP: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy, "very"', 'NULL', E'back\\slash');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE src (
    id integer PRIMARY KEY,
    c_smallint smallint, c_bigint bigint, c_bool boolean, c_real real, c_double double precision,
    c_numeric numeric, c_numeric_ps numeric(50,10), c_text text, c_varchar varchar(20),
    c_char char(5), c_uuid uuid, c_date date, c_time time, c_timetz timetz, c_ts timestamp,
    c_tstz timestamptz, c_interval interval, c_bytea bytea, c_json json, c_jsonb jsonb,
    c_inet inet, c_cidr cidr, c_enum mood, c_domain posint, c_point point,
    c_int_arr integer[], c_text_arr text[], c_float_arr double precision[],
    c_numeric_arr numeric[], c_date_arr date[], c_bytea_arr bytea[], c_enum_arr mood[],
    c_point_arr point[], c_uuid_arr uuid[], c_ts_arr timestamptz[]
);
CREATE TABLE dst (LIKE src INCLUDING ALL);

-- 1: every column NULL.
INSERT INTO src (id) VALUES (1);

-- 2: ordinary values.
INSERT INTO src VALUES (2, 1, 2, true, 1.5, 0.1, 12.340, 1.5, 'plain', 'Björk', 'ab',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '13:45:00', '13:45:00+02',
    '2024-02-29 13:45:00.5', '2024-02-29 13:45:00.123456+00', '1 year 2 mons 3 days 04:05:06.789',
    '\x0102', '{"a": [1, 2.50, "x\ty"],  "b" : null}', '{"b": [1, 2.50], "a": "é"}',
    '192.168.0.1/24', '10.0.0.0/8', 'ok', 42, '(1.5,2)', '{1,2,3}', '{a,b}', '{1.5,2}',
    '{1.50,2}', '{2024-01-01}', '{"\\x00"}', '{sad,ok}', '{"(1,2)"}',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"2024-01-01 00:00:00+00"}');

-- 3: edge values.
INSERT INTO src SELECT 3, -32768, -9223372036854775808, false, 'NaN', '-0',
    '-1234567890123456789012345678901234567890.0123456789012345678901234567890',
    'NaN',
    E'tab\there nl\nx cr\rx bs\\x \bbs \fff \vvt \\N \u00e9 \U0001F600 "q" {b} ,',
    '', 'a',
    '00000000-0000-0000-0000-000000000000', '4713-01-01 BC', '24:00:00', '23:59:59.999999-15:59',
    'infinity', '-infinity', '-178000000 years -1 mons +3 days -04:05:06.000001',
    (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 255) i),
    E'[1e400, "\\u0000", "tab\\t", {"k": "\\\\N"}]', '{"a": "\\u00e9\\t\\\\N", "n": 1e-7}',
    '::ffff:1.2.3.4/100', '2001:db8::/32', 'happy, "very"', 2147483647, '(-0,1e+300)',
    '[0:2]={1,NULL,3}',
    ARRAY['', NULL, 'NULL', 'null', 'a"b', 'c\d', '{x}', 'a,b', ' sp ', E'tab\t', '\N', E'nl\n', 'é'],
    '{NaN,Infinity,-Infinity,-0,1e-300,5e-324,1.7976931348623157e+308,0.1}',
    '{1.5,NaN,-0.000,Infinity,-Infinity}', '{"0001-01-01 BC",infinity,-infinity,NULL}',
    ARRAY['\x00ff'::bytea, NULL, '\x'::bytea, '\x5c22'::bytea], '{NULL,"NULL","back\\slash","happy, \"very\""}',
    '{"(1,2)","(3.5,-4)",NULL}', '{}', '{"4713-01-01 00:00:00+00 BC",infinity,"294276-12-31 23:59:59.999999+00"}';

-- 4: NULL-looking text, empty values, multi-dimensional arrays.
INSERT INTO src SELECT 4, 32767, 9223372036854775807, true, '-Infinity', 'Infinity', '0', '0.0000000001',
    '\N', 'NULL', '     ', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '294276-12-31', '00:00:00', '00:00:00+00',
    '294276-12-31 23:59:59.999999', '0001-01-01 00:00:00+00 BC', '00:00:00',
    '\x', '""', '[]', '::', '::/0', 'NULL', 1, '(0,0)',
    '{{1,2},{3,4}}', '{{"",NULL},{"{","}"}}', '{{{1.5},{NaN}},{{-0},{2}}}', '[-3:-2][5:6]={{1,2},{3,4}}',
    '{}', '{}', '{}', '{{"(1,2)","(3,4)"}}', '{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}}', '{}';

-- 5: float edge values.
INSERT INTO src (id, c_real, c_double, c_float_arr) VALUES
    (5, 1e-45, 2.2250738585072014e-308, '{1e15,1e-5,1e-4,123456789012345.6,1e16}'),
    (6, 3.4028235e+38, 4.9406564584124654e-324, '{1,-1,100,0.0001,1e+100,1.5e-07}'),
    (7, 1e6, 1e15, '{1e22,9007199254740993,0.30000000000000004}'),
    (8, 999999.9, 123456789012345.67, NULL),
    (9, 0.1, -1.7976931348623157e+308, NULL);
"#;

#[test]
fn every_type_round_trips_through_postgresql() {
    let cluster = replgen_testkit::Cluster::start();
    cluster.create_database("codec");
    let mut client = cluster.connect("codec");
    client.batch_execute(SESSION).unwrap();
    client.batch_execute(SETUP).unwrap();

    let mut copied = Vec::new();
    client
        .copy_out("COPY (SELECT * FROM src ORDER BY id) TO STDOUT")
        .unwrap()
        .read_to_end(&mut copied)
        .unwrap();
    let mut splitter = FieldSplitter::default();
    let mut reencoded = Vec::new();
    let mut rows = 0;
    for line in copied.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let fields = splitter.split(line);
        let row = EveryType::decode_fields(&fields)
            .unwrap_or_else(|e| panic!("line {:?}: {e}", String::from_utf8_lossy(line)));
        (EveryType::TABLE.check_row)(&fields).unwrap();
        let start = reencoded.len();
        row.encode_fields(&mut reencoded);
        assert_eq!(
            String::from_utf8_lossy(&reencoded[start..]),
            String::from_utf8_lossy(line),
            "re-encoding of row {}",
            row.id
        );
        let mut key = Vec::new();
        row.encode_key_fields(&mut key);
        assert_eq!(key, row.id.to_string().as_bytes());
        reencoded.push(b'\n');
        rows += 1;
    }
    assert_eq!(rows, 9);

    let mut writer = client.copy_in("COPY dst FROM STDIN").unwrap();
    writer.write_all(&reencoded).unwrap();
    writer.finish().unwrap();

    // Compare whole rows by their text form: exact (distinguishes -0 from 0, keeps NaN equal)
    // and works for types without an equality operator (json, point).
    for (a, b) in [("src", "dst"), ("dst", "src")] {
        let diff = client
            .query(
                &format!("SELECT t::text FROM {a} t EXCEPT SELECT t::text FROM {b} t"),
                &[],
            )
            .unwrap();
        let rows: Vec<String> = diff.iter().map(|r| r.get(0)).collect();
        assert!(rows.is_empty(), "rows of {a} missing from {b}: {rows:#?}");
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM dst", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 9);
}

#[test]
fn decode_errors_name_table_and_column() {
    let line: &[u8] = b"1\tx";
    let mut fields = Vec::new();
    replgen_format::codec::split_fields(line, &mut fields);
    let err = EveryType::decode_fields(&fields).unwrap_err();
    assert_eq!(err.table.as_deref(), Some("public.every_type"));
    assert!(err.reason.contains("36 columns"), "{err}");
    let mut row = vec![&b"\\N"[..]; 36];
    row[0] = b"1";
    row[4] = b"abc";
    let err = EveryType::decode_fields(&row).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("c_real"));
    assert_eq!(
        err.to_string(),
        "public.every_type.c_real: invalid real \"abc\""
    );
    row[4] = b"\\N";
    row[0] = b"\\N";
    let err = (EveryType::TABLE.check_key)(&row[..1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "public.every_type.id: NULL in a non-null column"
    );
}

/// Our float text equals PostgreSQL's for many random bit patterns (sent in binary, printed by
/// the server), and PostgreSQL reads our text back to the same bits.
#[test]
fn floats_print_exactly_like_postgresql() {
    let cluster = replgen_testkit::Cluster::start();
    cluster.create_database("floats");
    let mut client = cluster.connect("floats");
    client.batch_execute(SESSION).unwrap();
    // A fixed xorshift sequence: reproducible, spread over every exponent.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut doubles: Vec<f64> = (0..20_000)
        .map(|_| f64::from_bits(next()))
        .filter(|f| !f.is_nan())
        .collect();
    doubles.extend((0..2000).map(|i| (i as f64) * 10f64.powi(i % 40 - 20)));
    doubles.extend([
        0.0,
        -0.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e15,
        1e-5,
        1e-4,
        1e16,
        0.1,
    ]);
    let floats: Vec<f32> = (0..20_000)
        .map(|_| f32::from_bits(next() as u32))
        .filter(|f| !f.is_nan())
        .collect();

    let printed: Vec<String> = client
        .query(
            "SELECT x::text FROM unnest($1::float8[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
            &[&doubles],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ours: Vec<String> = doubles.iter().map(replgen_format::codec::to_text).collect();
    for ((p, o), v) in printed.iter().zip(&ours).zip(&doubles) {
        assert_eq!(p, o, "float8 {v:e} (bits {:#x})", v.to_bits());
    }
    let back: Vec<f64> = client
        .query(
            "SELECT x::float8 FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
            &[&ours],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (b, v) in back.iter().zip(&doubles) {
        assert_eq!(b.to_bits(), v.to_bits(), "float8 {v:e} read back as {b:e}");
    }

    let printed: Vec<String> = client
        .query(
            "SELECT x::text FROM unnest($1::float4[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
            &[&floats],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (p, v) in printed.iter().zip(&floats) {
        assert_eq!(
            p,
            &replgen_format::codec::to_text(v),
            "float4 {v:e} (bits {:#x})",
            v.to_bits()
        );
    }
}

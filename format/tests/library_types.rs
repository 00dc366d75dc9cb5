//! The library types of the format crate's features (rust_decimal, chrono, time, serde_json)
//! and `std::net::IpAddr`: text → value → text is the identity for every value the type holds
//! (property tests over the text forms PostgreSQL prints), the rest is an error; and against a
//! real PostgreSQL, values it prints decode to the expected library values and re-encode to
//! text it reads back as equal.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use proptest::prelude::*;
use replgen_format::codec::{to_text, FieldSplitter, TextForm, Value as _};
use replgen_format::types::{Array, MaybeInfinite, Uuid};
use replgen_format::Replicated;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::str::FromStr;

fn round_trip<T: TextForm>(text: &str) -> Result<String, String> {
    T::parse_text(text)
        .map(|v| to_text(&v))
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// numeric → rust_decimal::Decimal
// ---------------------------------------------------------------------------------------------

/// numeric text as PostgreSQL prints it: `-?digits[.digits]`, no leading zeros, no `-0`.
fn numeric_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[1-9][0-9]{0,31}|0",
        prop::option::of("[0-9]{1,32}"),
    )
        .prop_map(|(neg, int, frac)| {
            let mut t = int;
            if let Some(f) = frac {
                t = format!("{t}.{f}");
            }
            let zero = t.bytes().all(|b| b == b'0' || b == b'.');
            if neg && !zero {
                t.insert(0, '-');
            }
            t
        })
}

/// Whether a Decimal holds the numeric text exactly: at most 28 fraction digits and all its
/// digits, as one integer, below 2^96.
fn decimal_holds(text: &str) -> bool {
    let t = text.trim_start_matches('-');
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    frac.len() <= 28 && digits.len() <= 38 && digits.parse::<u128>().map_or(true, |d| d < 1 << 96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decimal_reads_exactly_what_it_holds(text in numeric_text()) {
        let got = round_trip::<Decimal>(&text);
        if decimal_holds(&text) {
            prop_assert_eq!(got, Ok(text));
        } else {
            let e = got.unwrap_err();
            prop_assert!(e.contains("does not fit a rust_decimal::Decimal"), "{}", e);
        }
    }
}

#[test]
fn decimal_refuses_nan_and_infinities_unless_maybe_infinite() {
    let e = round_trip::<Decimal>("NaN").unwrap_err();
    assert!(e.contains("NaN cannot be a rust_decimal::Decimal"), "{e}");
    let e = round_trip::<Decimal>("Infinity").unwrap_err();
    assert!(e.contains("MaybeInfinite<rust_decimal::Decimal>"), "{e}");
    for t in ["Infinity", "-Infinity", "12.3400"] {
        assert_eq!(round_trip::<MaybeInfinite<Decimal>>(t).as_deref(), Ok(t));
    }
    assert!(round_trip::<MaybeInfinite<Decimal>>("NaN").is_err());
    assert!(round_trip::<Decimal>("1e5").is_err());
    assert_eq!(
        Decimal::parse_text("-12.3400").unwrap(),
        Decimal::new(-123400, 4)
    );
}

// ---------------------------------------------------------------------------------------------
// dates and times → chrono, time
// ---------------------------------------------------------------------------------------------

/// A date-time as numbers (astronomical year) and the text PostgreSQL prints for it.
#[derive(Debug, Clone)]
struct Civil {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

fn days_in(year: i32, month: u32) -> u32 {
    match month {
        2 if year.rem_euclid(4) == 0
            && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) =>
        {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = Civil> {
    (
        years,
        1u32..=12,
        1u32..=31,
        0u32..24,
        0u32..60,
        0u32..60,
        prop_oneof![Just(0u32), 0u32..1_000_000],
    )
        .prop_map(|(year, month, day, hour, minute, second, micros)| Civil {
            year,
            month,
            day: day.min(days_in(year, month)),
            hour,
            minute,
            second,
            micros,
        })
}

impl Civil {
    fn date_text(&self) -> String {
        let y = if self.year <= 0 {
            1 - self.year
        } else {
            self.year
        };
        format!("{y:04}-{:02}-{:02}", self.month, self.day)
    }
    fn time_text(&self) -> String {
        let mut t = format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second);
        if self.micros > 0 {
            t.push_str(format!(".{:06}", self.micros).trim_end_matches('0'));
        }
        t
    }
    fn bc(&self) -> &'static str {
        if self.year <= 0 {
            " BC"
        } else {
            ""
        }
    }
    fn date(&self) -> String {
        format!("{}{}", self.date_text(), self.bc())
    }
    fn timestamp(&self) -> String {
        format!("{} {}{}", self.date_text(), self.time_text(), self.bc())
    }
    fn timestamptz(&self, offset: &str) -> String {
        format!(
            "{} {}{offset}{}",
            self.date_text(),
            self.time_text(),
            self.bc()
        )
    }
    fn chrono(&self) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)
            .unwrap()
            .and_hms_micro_opt(self.hour, self.minute, self.second, self.micros)
            .unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Years PostgreSQL's timestamps hold (4713 BC to 294276 AD); chrono holds up to 262142.
    #[test]
    fn dates_and_timestamps_round_trip(c in civil(-4712..=294276)) {
        let chrono_holds = c.year <= NaiveDate::MAX.year();
        for (text, got) in [
            (c.date(), round_trip::<NaiveDate>(&c.date())),
            (c.timestamp(), round_trip::<NaiveDateTime>(&c.timestamp())),
            (c.timestamptz("+00"), round_trip::<DateTime<Utc>>(&c.timestamptz("+00"))),
        ] {
            if chrono_holds {
                prop_assert_eq!(got, Ok(text));
            } else {
                let e = got.unwrap_err();
                prop_assert!(e.contains("is out of the range of chrono"), "{}", e);
            }
        }
        if chrono_holds {
            prop_assert_eq!(NaiveDateTime::parse_text(&c.timestamp()).unwrap(), c.chrono());
            prop_assert_eq!(DateTime::<Utc>::parse_text(&c.timestamptz("+00")).unwrap(), c.chrono().and_utc());
        }
        // time, with large-dates, holds every year here.
        prop_assert_eq!(round_trip::<time::Date>(&c.date()), Ok(c.date()));
        prop_assert_eq!(round_trip::<time::PrimitiveDateTime>(&c.timestamp()), Ok(c.timestamp()));
        for offset in ["+00", "-03", "+05:30", "-00:44:30"] {
            let t = c.timestamptz(offset);
            prop_assert_eq!(round_trip::<time::OffsetDateTime>(&t), Ok(t));
        }
        prop_assert_eq!(round_trip::<NaiveTime>(&c.time_text()), Ok(c.time_text()));
        prop_assert_eq!(round_trip::<time::Time>(&c.time_text()), Ok(c.time_text()));
    }

    /// Another offset denotes the same instant, printed back in UTC.
    #[test]
    fn chrono_reads_any_offset_as_its_instant(c in civil(1..=9999), minutes in -900i32..=900) {
        let sign = if minutes < 0 { '-' } else { '+' };
        let offset = format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60);
        let t = DateTime::<Utc>::parse_text(&c.timestamptz(&offset)).unwrap();
        let expected = c.chrono() - chrono::TimeDelta::minutes(minutes.into());
        prop_assert_eq!(t, expected.and_utc());
    }
}

#[test]
fn infinities_and_what_the_types_cannot_hold() {
    for t in ["infinity", "-infinity"] {
        let e = round_trip::<NaiveDate>(t).unwrap_err();
        assert!(e.contains("use MaybeInfinite<chrono::NaiveDate>"), "{e}");
        assert!(round_trip::<time::OffsetDateTime>(t).is_err());
        assert_eq!(round_trip::<MaybeInfinite<NaiveDate>>(t).as_deref(), Ok(t));
        assert_eq!(
            round_trip::<MaybeInfinite<DateTime<Utc>>>(t).as_deref(),
            Ok(t)
        );
        assert_eq!(
            round_trip::<MaybeInfinite<time::PrimitiveDateTime>>(t).as_deref(),
            Ok(t)
        );
    }
    assert!(MaybeInfinite::NegInfinity < MaybeInfinite::Finite(NaiveDate::MIN));
    assert!(MaybeInfinite::Finite(NaiveDate::MAX) < MaybeInfinite::Infinity);
    let e = round_trip::<NaiveTime>("24:00:00").unwrap_err();
    assert!(e.contains("out of the range of chrono::NaiveTime"), "{e}");
    assert!(round_trip::<time::Time>("24:00:00").is_err());
    assert!(round_trip::<time::Date>("5874897-12-31").is_err());
    assert!(round_trip::<NaiveDate>("2023-02-29").is_err());
    assert!(round_trip::<NaiveDate>("0000-01-01").is_err());
    assert!(round_trip::<NaiveDateTime>("2024-01-01T00:00:00").is_err());
}

// ---------------------------------------------------------------------------------------------
// jsonb → serde_json::Value, json → Box<RawValue>
// ---------------------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC*|[\\u{0}-\\u{1f}\"\\\\/é😀]*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zé\"\\\\]{0,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Equal, counting an integral float and the integer it prints as (`1e17`) as the same number,
/// as jsonb does.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64()),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Every Value prints to jsonb text that reads back as the same Value and text.
    #[test]
    fn json_values_round_trip(v in json_value()) {
        let text = to_text(&v);
        let back = serde_json::Value::parse_text(&text).unwrap();
        prop_assert!(same_json(&back, &v), "{:?} read back as {:?}", v, back);
        prop_assert_eq!(to_text(&back), text.clone());
        let raw = <Box<RawValue>>::parse_text(&text).unwrap();
        prop_assert_eq!(raw.get(), text.as_str());
    }
}

#[test]
fn jsonb_numbers_a_value_cannot_hold_are_errors() {
    for t in [
        "2.50",
        "1.0e5",
        "123456789012345678901234567890",
        r#"{"b": 1, "a": 2}"#,
        r#"{"a":1}"#,
    ] {
        let e = round_trip::<serde_json::Value>(t).unwrap_err();
        assert!(
            e.contains("does not survive as a serde_json::Value"),
            "{t}: {e}"
        );
    }
    for t in [
        "0.0000001",
        "1000000000000000000000",
        "-0.5",
        "1.0",
        "100.0",
        "18446744073709551615",
    ] {
        assert_eq!(round_trip::<serde_json::Value>(t).as_deref(), Ok(t));
    }
    assert_eq!(
        round_trip::<Box<RawValue>>(r#"{"a" : 1,  "a": 2}"#).as_deref(),
        Ok(r#"{"a" : 1,  "a": 2}"#)
    );
    let e = round_trip::<Box<RawValue>>(" {} ").unwrap_err();
    assert!(e.contains("whitespace"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// inet → IpAddr
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn ip_addresses_round_trip(ip in any::<IpAddr>()) {
        let text = ip.to_string();
        prop_assert_eq!(IpAddr::parse_text(&text).unwrap(), ip);
        prop_assert_eq!(round_trip::<IpAddr>(&text), Ok(text.clone()));
        let full = if ip.is_ipv4() { 32 } else { 128 };
        prop_assert_eq!(IpAddr::parse_text(&format!("{text}/{full}")).unwrap(), ip);
        let e = IpAddr::parse_text(&format!("{text}/{}", full - 1)).unwrap_err().to_string();
        prop_assert!(e.contains("has a netmask"), "{}", e);
    }
}

// ---------------------------------------------------------------------------------------------
// Against PostgreSQL.
// ---------------------------------------------------------------------------------------------

#[derive(Replicated, Debug)]
#[replicated(schema = "tests/library_types.yaml", table = "lib", id = 1)]
pub struct Lib {
    pub id: i32,
    pub n: Option<Decimal>,
    pub n_inf: Option<MaybeInfinite<Decimal>>,
    pub d: Option<NaiveDate>,
    pub d_inf: Option<MaybeInfinite<NaiveDate>>,
    pub d_time: Option<time::Date>,
    pub t: Option<NaiveTime>,
    pub t_time: Option<time::Time>,
    pub ts: Option<NaiveDateTime>,
    pub ts_time: Option<time::PrimitiveDateTime>,
    pub tstz: Option<DateTime<Utc>>,
    pub tstz_inf: Option<MaybeInfinite<DateTime<Utc>>>,
    pub tstz_time: Option<time::OffsetDateTime>,
    pub jb: Option<serde_json::Value>,
    pub jb_raw: Option<Box<RawValue>>,
    pub j: Option<Box<RawValue>>,
    pub ip: Option<IpAddr>,
    pub u: Option<Uuid>,
    pub n_arr: Option<Array<Decimal>>,
    pub tstz_arr: Option<Array<MaybeInfinite<DateTime<Utc>>>>,
}

const SESSION: &str =
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; \
     SET extra_float_digits = 1; SET bytea_output = hex; SET client_encoding = 'UTF8';";

const SETUP: &str = r#"
CREATE TABLE src (
    id integer PRIMARY KEY, n numeric, n_inf numeric, d date, d_inf date, d_time date,
    t time, t_time time, ts timestamp, ts_time timestamp, tstz timestamptz,
    tstz_inf timestamptz, tstz_time timestamptz, jb jsonb, jb_raw jsonb, j json, ip inet,
    u uuid, n_arr numeric[], tstz_arr timestamptz[]
);
CREATE TABLE dst (LIKE src INCLUDING ALL);
INSERT INTO src (id) VALUES (1);
INSERT INTO src VALUES (2, 12.3400, 'Infinity', '2024-02-29', 'infinity', '2024-02-29',
    '13:45:00.5', '23:59:59.999999', '2024-02-29 13:45:00.123456', '2024-02-29 13:45:00',
    '2024-03-31 02:30:00+05:30', '-infinity', '2024-02-29 13:45:00.000001+00',
    E'{"b": [1, 2.5, -3], "a": "\\u00e9\\t\\n\\u0001 \\"q\\" \\\\ /", "n": 1e-7, "big": 18446744073709551615, "neg": -9223372036854775808, "emoji": "\\ud83d\\ude00", "": {}, "f": 0.30000000000000004}',
    '{"x": 2.50, "n": 1.0e400}', E'{"a" : 1,  "a": [2,3], "s": "\\u0000"}', '192.168.0.1',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1.50,-0.000,12345678901234567890}',
    '{infinity,"2024-01-01 00:00:00+00",-infinity}');
INSERT INTO src VALUES (3, '-79228162514264337593543950335', '-0.00000000000000000001',
    '4713-01-01 BC', '-infinity', '294276-12-31', '00:00:00', '00:00:00', '4713-01-01 00:00:00 BC',
    '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', '262142-12-31 23:59:59.999999+00',
    '294276-12-31 23:59:59.999999+00', '[]', '"tab\there"', '[1e400, 1.0E-2]', '::ffff:1.2.3.4',
    '00000000-0000-0000-0000-000000000000', '{}', '{}');
INSERT INTO src (id, n, jb, ip) VALUES (4, '0.0000000000000000000000000001', '{}', '2001:db8::1'),
    (5, '7922816251426433759354395033.5', '{"a": null, "aa": true, "b": false}', '::1'),
    (6, '0', 'null', '1:0:0:1:0:0:0:1'), (7, '-1', '"x"', 'fe80::1:2:3:4'),
    (8, NULL, '[[], [{}], "é"]', '1:0:1:1:1:1:1:1'), (9, NULL, '{"a": {"b": {"c": [1]}}}', '::');
"#;

fn ts(text: &str) -> DateTime<Utc> {
    DateTime::<Utc>::from_str(text).unwrap()
}

#[test]
fn postgresql_values_decode_to_library_values_and_back() {
    let cluster = replgen_testkit::Cluster::start();
    cluster.create_database("lib");
    let mut client = cluster.connect("lib");
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
    let mut rows = Vec::new();
    for line in copied.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let fields = splitter.split(line);
        let row = Lib::decode_fields(&fields)
            .unwrap_or_else(|e| panic!("line {:?}: {e}", String::from_utf8_lossy(line)));
        let start = reencoded.len();
        row.encode_fields(&mut reencoded);
        assert_eq!(
            String::from_utf8_lossy(&reencoded[start..]),
            String::from_utf8_lossy(line),
            "re-encoding of row {}",
            row.id
        );
        reencoded.push(b'\n');
        rows.push(row);
    }
    assert_eq!(rows.len(), 9);

    // The library values are the ones PostgreSQL's text stands for.
    let r = &rows[1];
    assert_eq!(r.n, Some(Decimal::new(123400, 4)));
    assert_eq!(r.n_inf, Some(MaybeInfinite::Infinity));
    assert_eq!(r.d, NaiveDate::from_ymd_opt(2024, 2, 29));
    assert_eq!(r.d_inf, Some(MaybeInfinite::Infinity));
    assert_eq!(
        r.d_time,
        time::Date::from_calendar_date(2024, time::Month::February, 29).ok()
    );
    assert_eq!(r.t, NaiveTime::from_hms_milli_opt(13, 45, 0, 500));
    assert_eq!(
        r.t_time,
        time::Time::from_hms_micro(23, 59, 59, 999_999).ok()
    );
    assert_eq!(r.ts, Some(ts("2024-02-29T13:45:00.123456Z").naive_utc()));
    assert_eq!(r.tstz, Some(ts("2024-03-30T21:00:00Z")));
    assert_eq!(r.tstz_inf, Some(MaybeInfinite::NegInfinity));
    let jb = r.jb.as_ref().unwrap();
    assert_eq!(jb["a"], "é\t\n\u{1} \"q\" \\ /");
    assert_eq!(jb["emoji"], "😀");
    assert_eq!(jb["n"], 1e-7);
    assert_eq!(jb["big"], u64::MAX);
    assert_eq!(jb["neg"], i64::MIN);
    assert_eq!(jb["f"], 0.30000000000000004);
    assert_eq!(jb["b"], serde_json::json!([1, 2.5, -3]));
    let raw = r.jb_raw.as_ref().unwrap().get();
    assert!(
        raw.starts_with(r#"{"n": 1000"#) && raw.ends_with(r#", "x": 2.50}"#),
        "{raw}"
    );
    assert_eq!(
        r.j.as_ref().unwrap().get(),
        r#"{"a" : 1,  "a": [2,3], "s": "\u0000"}"#
    );
    assert_eq!(r.ip, Some("192.168.0.1".parse().unwrap()));
    let r = &rows[2];
    assert_eq!(
        r.n,
        Decimal::from_str("-79228162514264337593543950335").ok()
    );
    assert_eq!(r.n_inf, Some(MaybeInfinite::Finite(Decimal::new(-1, 20))));
    assert_eq!(to_text(&r.n_inf.unwrap()), "-0.00000000000000000001");
    assert_eq!(r.d, NaiveDate::from_ymd_opt(-4712, 1, 1));
    assert_eq!(
        r.tstz_inf,
        Some(MaybeInfinite::Finite(ts("+262142-12-31T23:59:59.999999Z")))
    );
    assert_eq!(r.tstz_time.unwrap().year(), 294276);
    assert_eq!(r.ip, Some("::ffff:1.2.3.4".parse().unwrap()));

    // And PostgreSQL reads the re-encoded rows back as equal.
    let mut writer = client.copy_in("COPY dst FROM STDIN").unwrap();
    writer.write_all(&reencoded).unwrap();
    writer.finish().unwrap();
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
}

/// What PostgreSQL prints and a library type cannot hold is a decode error naming the column.
#[test]
fn postgresql_values_a_library_type_cannot_hold_are_errors() {
    let cluster = replgen_testkit::Cluster::start();
    cluster.create_database("lib");
    let mut client = cluster.connect("lib");
    client.batch_execute(SESSION).unwrap();
    for (column, sql, reason) in [
        (
            "n",
            "'NaN'::numeric",
            "NaN cannot be a rust_decimal::Decimal",
        ),
        (
            "n",
            "'Infinity'::numeric",
            "use MaybeInfinite<rust_decimal::Decimal>",
        ),
        (
            "n",
            "'1e-29'::numeric",
            "does not fit a rust_decimal::Decimal",
        ),
        (
            "n",
            "79228162514264337593543950336::numeric",
            "does not fit",
        ),
        ("n_inf", "'NaN'::numeric", "NaN cannot be"),
        (
            "d",
            "'infinity'::date",
            "use MaybeInfinite<chrono::NaiveDate>",
        ),
        (
            "d",
            "'5874897-12-31'::date",
            "out of the range of chrono::NaiveDate",
        ),
        (
            "d_time",
            "'5874897-12-31'::date",
            "out of the range of time::Date",
        ),
        (
            "t",
            "'24:00:00'::time",
            "out of the range of chrono::NaiveTime",
        ),
        (
            "ts",
            "'294276-12-31 23:59:59'::timestamp",
            "out of the range of chrono::NaiveDateTime",
        ),
        (
            "tstz_time",
            "'infinity'::timestamptz",
            "use MaybeInfinite<time::OffsetDateTime>",
        ),
        (
            "jb",
            "'{\"a\": 2.50}'::jsonb",
            "does not survive as a serde_json::Value",
        ),
        (
            "jb",
            "'123456789012345678901234567890'::jsonb",
            "does not survive",
        ),
        ("j", "' [1] '::json", "whitespace"),
        ("ip", "'10.0.0.0/8'::inet", "has a netmask"),
    ] {
        let text: String = client
            .query_one(&format!("SELECT ({sql})::text"), &[])
            .unwrap()
            .get(0);
        let index = Lib::TABLE
            .columns
            .iter()
            .position(|c| c.name == column)
            .unwrap();
        let mut field = Vec::new();
        text.encode(&mut field);
        let mut row = vec![&b"\\N"[..]; Lib::TABLE.columns.len()];
        row[0] = b"1";
        row[index] = &field;
        let e = Lib::decode_fields(&row).unwrap_err();
        assert_eq!(e.column.as_deref(), Some(column), "{e}");
        assert!(e.reason.contains(reason), "{column} {text}: {e}");
        assert!(e.to_string().contains(&format!("lib.{column}: ")), "{e}");
    }
}

/// README.md quotes the example's code between its markers verbatim.
#[test]
fn readme_quotes_the_example() {
    let example = include_str!("../examples/read_changes.rs");
    let readme = include_str!("../../README.md");
    let quoted = example
        .split("// README begin\n")
        .nth(1)
        .and_then(|rest| rest.split("// README end\n").next())
        .expect("the example has README markers");
    assert!(
        readme.contains(&format!("```rust\n{quoted}```")),
        "README.md must quote format/examples/read_changes.rs between its markers"
    );
}

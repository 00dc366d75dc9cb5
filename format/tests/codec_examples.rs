//! Hand-picked examples of the COPY-text codecs: what PostgreSQL prints must decode, and
//! encode back to the same bytes.

use replgen_format::codec::{
    escape_into, field_text, split_fields, unescape_text, FieldSplitter, TextForm, Value,
};
use replgen_format::types::*;

fn enc<T: Value>(v: &T) -> String {
    let mut out = Vec::new();
    v.encode(&mut out);
    String::from_utf8(out).unwrap()
}

/// Decodes `field` as T and checks it re-encodes to exactly `field`.
fn same<T: Value + std::fmt::Debug>(field: &str) -> T {
    let v = T::decode(field.as_bytes()).unwrap_or_else(|e| panic!("{field:?}: {e}"));
    assert_eq!(enc(&v), field, "re-encoding of {field:?} ({v:?})");
    v
}

/// [`same`] for a PostgreSQL text form (COPY-escaped first).
fn same_text<T: Value + std::fmt::Debug>(text: &str) -> T {
    let mut field = Vec::new();
    escape_into(text.as_bytes(), &mut field);
    same(std::str::from_utf8(&field).unwrap())
}

fn bad<T: Value + std::fmt::Debug>(field: &[u8]) -> String {
    match T::decode(field) {
        Ok(v) => panic!("{:?} decoded to {v:?}", String::from_utf8_lossy(field)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn escapes_like_copy() {
    let mut out = Vec::new();
    escape_into("a\tb\nc\rd\\e\x08f\x0cg\x0bh\u{e9}".as_bytes(), &mut out);
    assert_eq!(out, b"a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh\xc3\xa9");
    assert_eq!(
        unescape_text(&out).unwrap(),
        "a\tb\nc\rd\\e\x08f\x0cg\x0bh\u{e9}"
    );
}

#[test]
fn unescapes_octal_hex_and_others() {
    assert_eq!(
        unescape_text(b"\\101\\x42\\x4\\7\\q\\N\\.").unwrap(),
        "AB\x04\x07qN."
    );
    assert_eq!(unescape_text(b"\\xg").unwrap(), "xg");
    assert_eq!(unescape_text(b"\\303\\251").unwrap(), "\u{e9}");
    assert!(unescape_text(b"\\0")
        .unwrap_err()
        .reason
        .contains("NUL is not allowed"));
    assert!(unescape_text(b"\\000")
        .unwrap_err()
        .reason
        .contains("NUL is not allowed"));
    assert!(unescape_text(b"\\x00")
        .unwrap_err()
        .reason
        .contains("NUL is not allowed"));
    assert!(unescape_text(b"a\0b")
        .unwrap_err()
        .reason
        .contains("NUL is not allowed"));
    assert!(unescape_text(b"\\377")
        .unwrap_err()
        .reason
        .contains("invalid UTF-8"));
    assert!(unescape_text(b"\xff")
        .unwrap_err()
        .reason
        .contains("invalid UTF-8"));
    assert!(unescape_text(b"abc\\").is_err());
    assert!(matches!(
        field_text(b"plain").unwrap(),
        std::borrow::Cow::Borrowed("plain")
    ));
}

#[test]
fn splits_at_unescaped_tabs() {
    let mut f = Vec::new();
    split_fields(b"1\ta\\tb\t\\N\t\t\\\\\tx\\\ty", &mut f);
    assert_eq!(
        f,
        vec![&b"1"[..], b"a\\tb", b"\\N", b"", b"\\\\", b"x\\\ty"]
    );
    let mut f = Vec::new();
    split_fields(b"", &mut f);
    assert_eq!(f, vec![&b""[..]]);
    let mut splitter = FieldSplitter::default();
    let mut line = Vec::new();
    for text in ["a\tb", "c", "d\te\tf"] {
        line.clear();
        line.extend_from_slice(text.as_bytes());
        let fields = splitter.split(&line);
        assert_eq!(fields.len(), text.split('\t').count());
    }
}

#[test]
fn nulls() {
    assert_eq!(enc(&None::<i32>), "\\N");
    assert_eq!(Option::<String>::decode(b"\\N").unwrap(), None);
    assert_eq!(
        Option::<String>::decode(b"\\\\N").unwrap().as_deref(),
        Some("\\N")
    );
    assert!(bad::<String>(b"\\N").contains("NULL in a non-null column"));
    assert!(bad::<i32>(b"\\N").contains("NULL in a non-null column"));
    assert_eq!(same::<Option<String>>(""), Some(String::new()));
}

#[test]
fn integers_and_booleans() {
    assert_eq!(same::<i16>("-32768"), i16::MIN);
    assert_eq!(same::<i32>("2147483647"), i32::MAX);
    assert_eq!(same::<i64>("-9223372036854775808"), i64::MIN);
    assert_eq!(i32::decode(b" +42 ").unwrap(), 42);
    assert!(bad::<i16>(b"32768").contains("out of range"));
    assert!(bad::<i32>(b"1.5").contains("invalid integer"));
    assert!(same::<bool>("t"));
    assert!(!same::<bool>("f"));
    for t in ["true", "YES", "on", "1", "tr"] {
        assert!(bool::decode(t.as_bytes()).unwrap(), "{t}");
    }
    for f in ["false", "No", "off", "0", "of"] {
        assert!(!bool::decode(f.as_bytes()).unwrap(), "{f}");
    }
    assert!(bool::decode(b"o").is_err());
}

#[test]
fn floats_print_like_postgresql() {
    for (v, text) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (100.0, "100"),
        (1e100, "1e+100"),
        (1.5e-7, "1.5e-07"),
        (1e15, "1e+15"),
        (123456789012345.0, "123456789012345"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (-123.456, "-123.456"),
    ] {
        assert_eq!(enc(&v), text, "{v:e}");
        assert_eq!(
            f64::decode(text.as_bytes()).unwrap().to_bits(),
            f64::to_bits(v),
            "{text}"
        );
    }
    // PostgreSQL's Ryu never prints a decimal on the rounding boundary (Rust's shortest form
    // may), and takes the even decimal on an exact tie.
    let boundary = f64::from_bits(0x435c2cd0ea810974);
    assert_eq!(enc(&boundary), "3.1722300588172752e+16");
    assert_eq!(enc(&f32::from_bits(0x49c62672)), "1.6232462e+06"); // 1623246.25
    assert_eq!(enc(&f64::NAN), "NaN");
    assert!(f64::decode(b"NaN").unwrap().is_nan());
    for (v, text) in [
        (1e6f32, "1e+06"),
        (100000.0, "100000"),
        (0.1, "0.1"),
        (3.4028235e38, "3.4028235e+38"),
    ] {
        assert_eq!(enc(&v), text);
        assert_eq!(f32::decode(text.as_bytes()).unwrap(), v);
    }
    assert_eq!(f64::decode(b" -inf ").unwrap(), f64::NEG_INFINITY);
    assert_eq!(f64::decode(b"1E5").unwrap(), 1e5);
    assert_eq!(f64::decode(b".5").unwrap(), 0.5);
    assert!(bad::<f64>(b"1e400").contains("out of range"));
    assert!(bad::<f64>(b"1e-400").contains("out of range"));
    assert!(bad::<f64>(b"abc").contains("invalid double precision"));
}

#[test]
fn text_newtypes() {
    same::<Numeric>("-12.3400");
    same::<Numeric>("1234567890123456789012345678901234567890.0123456789");
    same::<Numeric>("NaN");
    same::<Numeric>("-Infinity");
    same::<Numeric>("1.5e+10");
    assert!(bad::<Numeric>(b"1.2.3").contains("invalid numeric"));
    assert!(bad::<Numeric>(b"").contains("invalid numeric"));
    same::<Uuid>("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(
        enc(&Uuid::decode(b"A0EEBC999C0B4EF8BB6D6BB9BD380A11").unwrap()),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    for d in [
        "2024-02-29",
        "0044-03-15 BC",
        "12345-01-01",
        "infinity",
        "-infinity",
    ] {
        same::<Date>(d);
    }
    for t in ["00:00:00", "23:59:59.999999", "24:00:00"] {
        same::<Time>(t);
    }
    for t in ["13:45:00+00", "01:02:03.5-05:30", "01:02:03+05:53:28"] {
        same::<TimeTz>(t);
    }
    for t in [
        "2024-02-29 13:45:00.123456",
        "0001-01-01 00:00:00 BC",
        "294276-12-31 23:59:59.999999",
        "infinity",
    ] {
        same::<Timestamp>(t);
    }
    for t in [
        "2024-02-29 13:45:00.123456+00",
        "4713-01-01 00:00:00+00 BC",
        "-infinity",
    ] {
        same::<TimestampTz>(t);
    }
    for t in [
        "00:00:00",
        "1 year 2 mons 3 days 04:05:06.789",
        "-1 years -2 mons +3 days -04:05:06",
        "1 day",
        "-00:00:00.000001",
        "178000000 years",
        "-2562047788:00:54.775807",
        "1 mon -1 days",
    ] {
        same::<Interval>(t);
    }
    assert!(bad::<Date>(b"yesterday").contains("invalid date"));
    assert!(bad::<Interval>(b"1 hour").contains("invalid interval"));
    assert!(bad::<Timestamp>(b"2024-02-29").contains("invalid timestamp"));
    same_text::<Json>(r#"{"a": [1, 2.5e3, -0, "x\"y\\z", null, true, false], "b": {}}"#);
    same::<Jsonb>(r#"[]"#);
    assert!(bad::<Json>(b"{\"a\":}").contains("invalid json"));
    assert!(bad::<Json>(b"[1,]").contains("invalid json"));
    assert!(bad::<Json>(b"01").contains("invalid json"));
    let deep = "[".repeat(100_000);
    assert!(Json::new(deep).is_err());
    for a in [
        "192.168.0.1",
        "10.0.0.0/8",
        "::1",
        "2001:db8::/32",
        "::ffff:1.2.3.4/128",
    ] {
        same::<Inet>(a);
        same::<Cidr>(a);
    }
    Cidr::new("10/8").unwrap();
    assert!(bad::<Inet>(b"300.1.1.1").contains("invalid inet"));
    assert!(bad::<Inet>(b"1.1.1.1/33").contains("invalid inet"));
    same::<PgText>("(1,2)");
    same::<PgText>("any\\ttext");
}

#[test]
fn bytea() {
    assert_eq!(same::<Bytea>("\\\\x").0, b"");
    assert_eq!(same::<Bytea>("\\\\x00ff7f").0, [0u8, 255, 127]);
    let all: Vec<u8> = (0..=255).collect();
    let v = Bytea(all.clone());
    assert_eq!(Bytea::decode(enc(&v).as_bytes()).unwrap().0, all);
    assert_eq!(Bytea::parse("\\x0A FF").unwrap().0, [10u8, 255]);
    assert_eq!(Bytea::parse("ab\\\\\\001").unwrap().0, b"ab\\\x01");
    assert!(Bytea::parse("\\x0").is_err());
    assert!(Bytea::parse("\\9").is_err());
}

#[test]
fn arrays() {
    let a = same::<Array<i32>>("{1,2,NULL}");
    assert_eq!(a.elements(), &[Some(1), Some(2), None]);
    assert_eq!(same::<Array<i32>>("{}").dims(), &[] as &[usize]);
    let m = same::<Array<i16>>("{{1,2},{3,4}}");
    assert_eq!(m.dims(), &[2, 2]);
    let b = same::<Array<i32>>("[0:1]={5,6}");
    assert_eq!(b.lower_bounds(), &[0]);
    same::<Array<i32>>("[-2:-1][3:5]={{1,2,3},{4,5,6}}");
    same::<Array<i32>>("{{{1},{2}},{{3},{4}}}");
    let s = same_text::<Array<String>>(
        "{\"\",NULL,\"NULL\",\"null\",\"a b\",\"{x}\",\"a,b\",\"q\\\"q\",\"b\\\\s\",plain,\"\t\"}",
    );
    assert_eq!(
        s.elements(),
        &[
            Some(String::new()),
            None,
            Some("NULL".into()),
            Some("null".into()),
            Some("a b".into()),
            Some("{x}".into()),
            Some("a,b".into()),
            Some("q\"q".into()),
            Some("b\\s".into()),
            Some("plain".into()),
            Some("\t".into()),
        ]
    );
    let t = Array::<String>::decode(br#"{ a , "b" ,c d }"#).unwrap();
    assert_eq!(
        t.elements(),
        &[Some("a".into()), Some("b".into()), Some("c d".into())]
    );
    same_text::<Array<Bytea>>(r#"{"\\x00ff",NULL}"#);
    same::<Array<f64>>("{NaN,-Infinity,1e+100,-0}");
    same::<Array<PgText>>(r#"{"(1,2)","(3,4)"}"#);
    same::<Array<Numeric>>("{1.50,NaN}");
    same::<Option<Array<Date>>>("{\"2020-01-01 BC\",infinity}");
    for bad_text in [
        "{1,2",
        "{{1,2},{3}}",
        "{{1},2}",
        "{1,{2}}",
        "[1:3]={1,2}",
        "{1}x",
        "1,2",
        "{\"a}",
        "{,}",
        "{{{{{{{1}}}}}}}",
    ] {
        assert!(
            Array::<i32>::decode(bad_text.as_bytes()).is_err(),
            "{bad_text}"
        );
    }
    assert_eq!(
        Array::<i32>::decode(b"[2]={7,8}").unwrap().lower_bounds(),
        &[1]
    );
}

#[test]
fn text_forms_match_display() {
    let n: Numeric = "1.5".parse().unwrap();
    assert_eq!(n.to_string(), "1.5");
    assert_eq!(n.as_str(), "1.5");
    let mut out = Vec::new();
    Bytea(vec![1, 2]).write_text(&mut out);
    assert_eq!(out, b"\\x0102");
    assert_eq!(Bytea(vec![1, 2]).to_string(), "\\x0102");
}

//! Property tests of the COPY-text codecs: every type survives encode → decode unchanged, the
//! encoded field never breaks the line format, and decoding arbitrary bytes never panics.

use proptest::prelude::*;
use replgen_format::codec::{split_fields, unescape_into, Value};
use replgen_format::types::*;
use std::fmt::Debug;

fn encode<T: Value>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

/// Encodes, checks the field is one well-formed field, decodes, and returns the result.
fn round_trip<T: Value + Debug>(v: &T) -> T {
    let field = encode(v);
    assert!(
        !field.contains(&b'\n') && !field.contains(&b'\r'),
        "raw line break in {field:?}"
    );
    let mut fields = Vec::new();
    split_fields(&field, &mut fields);
    assert_eq!(
        fields.len(),
        1,
        "field {:?} splits",
        String::from_utf8_lossy(&field)
    );
    let back = T::decode(&field).unwrap_or_else(|e| {
        panic!(
            "{v:?} encoded as {:?} does not decode: {e}",
            String::from_utf8_lossy(&field)
        )
    });
    // And the text is stable: re-encoding yields the same bytes.
    assert_eq!(encode(&back), field);
    back
}

fn same<T: Value + Debug + PartialEq>(v: T)
where
    Option<T>: Value,
{
    assert_eq!(round_trip(&v), v);
    let some = Some(v);
    assert_eq!(round_trip(&some), some);
    assert_eq!(round_trip(&None::<T>), None);
}

fn same_f64(v: f64) {
    let back = round_trip(&v);
    assert!(
        back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()),
        "{v:e} came back as {back:e}"
    );
}

fn same_f32(v: f32) {
    let back = round_trip(&v);
    assert!(
        back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()),
        "{v:e} came back as {back:e}"
    );
}

/// Text with every character the codecs treat specially, plus any Unicode (no NUL, which
/// PostgreSQL text cannot hold).
fn tricky_string() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "\\", "\t", "\n", "\r", "\\N", "N", "\u{8}", "\u{b}", "\u{c}", " ", "\"", "{", "}",
            ",", "NULL", "null", "\\.", "é", "😀", "\u{7f}", "\u{1}", "[1:2]=", "=",
        ])
        .prop_map(str::to_owned),
        any::<char>()
            .prop_filter("no NUL", |c| *c != '\0')
            .prop_map(String::from),
        "[a-z0-9 ]{0,5}",
    ];
    prop::collection::vec(piece, 0..12)
        .prop_map(|v| v.concat())
        .boxed()
}

fn float64() -> BoxedStrategy<f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1e15,
            1e-5,
            1e-4,
            123456789012345.6,
            0.1,
        ]),
    ]
    .boxed()
}

fn float32() -> BoxedStrategy<f32> {
    prop_oneof![
        any::<f32>(),
        any::<u32>().prop_map(f32::from_bits),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-45,
            f32::MAX,
            1e6,
            999999.9
        ]),
    ]
    .boxed()
}

fn numeric() -> BoxedStrategy<Numeric> {
    prop_oneof![
        prop::sample::select(vec!["NaN", "Infinity", "-Infinity"])
            .prop_map(|s| Numeric::new(s).unwrap()),
        (
            "-?",
            "[0-9]{1,40}",
            proptest::option::of("[0-9]{0,40}"),
            proptest::option::of("e[+-]?[0-9]{1,3}")
        )
            .prop_map(|(sign, int, frac, exp)| {
                let mut s = format!("{sign}{int}");
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                if let Some(e) = exp {
                    s.push_str(&e);
                }
                Numeric::new(s).unwrap()
            }),
    ]
    .boxed()
}

fn date_text() -> BoxedStrategy<String> {
    prop_oneof![
        1 => Just("infinity".to_owned()),
        1 => Just("-infinity".to_owned()),
        8 => (1u32..300000, 1u32..=12, 1u32..=28, any::<bool>())
            .prop_map(|(y, m, d, bc)| format!("{y:04}-{m:02}-{d:02}{}", if bc { " BC" } else { "" })),
    ]
    .boxed()
}

fn time_text() -> BoxedStrategy<String> {
    (
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of(1u32..1_000_000),
    )
        .prop_map(|(h, m, s, us)| match us {
            Some(us) => format!(
                "{h:02}:{m:02}:{s:02}.{}",
                format!("{us:06}").trim_end_matches('0')
            ),
            None => format!("{h:02}:{m:02}:{s:02}"),
        })
        .boxed()
}

fn zone_text() -> BoxedStrategy<String> {
    prop_oneof![
        Just("+00".to_owned()),
        (
            prop::sample::select(vec!['+', '-']),
            0u32..15,
            proptest::option::of(0u32..60)
        )
            .prop_map(|(s, h, m)| match m {
                Some(m) => format!("{s}{h:02}:{m:02}"),
                None => format!("{s}{h:02}"),
            }),
    ]
    .boxed()
}

fn interval_text() -> BoxedStrategy<String> {
    (
        proptest::option::of(-200000i64..200000),
        proptest::option::of(-1000i64..1000),
        proptest::option::of(-100000i64..100000),
        proptest::option::of((
            any::<bool>(),
            0u64..3_000_000_000,
            0u32..60,
            0u32..60,
            proptest::option::of(1u32..1_000_000),
        )),
    )
        .prop_map(|(y, mo, d, t)| {
            let mut parts = Vec::new();
            let unit =
                |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
            if let Some(y) = y {
                parts.push(unit(y, "year", "years"));
            }
            if let Some(mo) = mo {
                parts.push(unit(mo, "mon", "mons"));
            }
            if let Some(d) = d {
                parts.push(unit(d, "day", "days"));
            }
            if let Some((neg, h, m, s, us)) = t {
                let mut text = format!(
                    "{}{h:02}:{m:02}:{s:02}",
                    if neg {
                        "-"
                    } else if parts.is_empty() {
                        ""
                    } else {
                        "+"
                    }
                );
                if let Some(us) = us {
                    text.push_str(&format!(".{}", format!("{us:06}").trim_end_matches('0')));
                }
                parts.push(text);
            }
            if parts.is_empty() {
                "00:00:00".to_owned()
            } else {
                parts.join(" ")
            }
        })
        .boxed()
}

fn json_text() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        tricky_string().prop_map(|s| {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z\\t ]{0,4}", inner), 0..5).prop_map(|v| {
                let items: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("{:?}: {v}", k))
                    .collect();
                format!("{{{}}}", items.join(",\n "))
            }),
        ]
    })
    .boxed()
}

/// Arrays of any shape: empty, or 1 to 3 dimensions with random lower bounds, with NULLs.
fn array_of<T: Debug + Clone + 'static>(element: BoxedStrategy<T>) -> BoxedStrategy<Array<T>> {
    prop_oneof![
        1 => Just(Array::default()),
        6 => (prop::collection::vec((1usize..4, -3i32..4), 1..=3)).prop_flat_map(move |dims| {
            let n: usize = dims.iter().map(|d| d.0).product();
            let (lens, lower): (Vec<usize>, Vec<i32>) = dims.into_iter().unzip();
            prop::collection::vec(proptest::option::weighted(0.8, element.clone()), n)
                .prop_map(move |els| Array::new(lens.clone(), lower.clone(), els).unwrap())
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn integers(a in any::<i16>(), b in any::<i32>(), c in any::<i64>(), d in any::<bool>()) {
        same(a);
        same(b);
        same(c);
        same(d);
    }

    #[test]
    fn floats(a in float64(), b in float32()) {
        same_f64(a);
        same_f32(b);
        let arr = Array::from_values(vec![a]);
        let back = round_trip(&arr);
        let x = back.elements()[0].unwrap();
        prop_assert!(x.to_bits() == a.to_bits() || (a.is_nan() && x.is_nan()));
    }

    #[test]
    fn strings(s in tricky_string()) {
        same(s.clone());
        same(PgText::new(s.clone()).unwrap());
    }

    #[test]
    fn uuids(n in any::<u128>()) {
        same(Uuid::from_u128(n));
    }

    #[test]
    fn numerics(n in numeric()) {
        same(n);
    }

    #[test]
    fn dates_and_times(d in date_text(), t in time_text(), z in zone_text(), i in interval_text(), bc in any::<bool>()) {
        same(Date::new(d.clone()).unwrap());
        same(Time::new(t.clone()).unwrap());
        same(TimeTz::new(format!("{t}{z}")).unwrap());
        let (date, era) = match d.strip_suffix(" BC") {
            Some(date) => (date.to_owned(), " BC"),
            None => (d.clone(), if bc { " BC" } else { "" }),
        };
        if d.contains("infinity") {
            same(Timestamp::new(d.clone()).unwrap());
            same(TimestampTz::new(d.clone()).unwrap());
        } else {
            same(Timestamp::new(format!("{date} {t}{era}")).unwrap());
            same(TimestampTz::new(format!("{date} {t}{z}{era}")).unwrap());
        }
        same(Interval::new(i).unwrap());
    }

    #[test]
    fn byteas(b in prop::collection::vec(any::<u8>(), 0..300)) {
        same(Bytea(b));
    }

    #[test]
    fn json(j in json_text()) {
        same(Json::new(j.clone()).unwrap());
        same(Jsonb::new(j).unwrap());
    }

    #[test]
    fn network(a in any::<[u8; 4]>(), b in any::<[u16; 8]>(), p in 0u8..=32) {
        let v4 = std::net::Ipv4Addr::from(a);
        let v6 = std::net::Ipv6Addr::from(b);
        same(Inet::new(v4.to_string()).unwrap());
        same(Inet::new(format!("{v6}/{p}")).unwrap());
        same(Cidr::new(format!("{v4}/{p}")).unwrap());
    }

    #[test]
    fn arrays_of_strings(a in array_of(tricky_string())) {
        same(a);
    }

    #[test]
    fn arrays_of_scalars(
        a in array_of(any::<i32>().boxed()),
        b in array_of(prop::collection::vec(any::<u8>(), 0..8).prop_map(Bytea).boxed()),
        c in array_of(numeric()),
        d in array_of(date_text().prop_map(|d| Date::new(d).unwrap()).boxed()),
        e in array_of(any::<bool>().boxed()),
    ) {
        same(a);
        same(b);
        same(c);
        same(d);
        same(e);
    }

    #[test]
    fn arrays_of_floats(a in array_of(float64())) {
        let back = round_trip(&a);
        prop_assert_eq!(back.dims(), a.dims());
        prop_assert_eq!(back.lower_bounds(), a.lower_bounds());
        for (x, y) in back.elements().iter().zip(a.elements()) {
            match (x, y) {
                (Some(x), Some(y)) => prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())),
                (x, y) => prop_assert_eq!(x, y),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..64)) {
        decode_everything(&raw);
    }

    #[test]
    fn arbitrary_structured_text_never_panics(s in "[{}\\[\\]:=,\"\\\\ NUL0-9a-fx.+eE\t-]{0,40}") {
        decode_everything(s.as_bytes());
    }
}

fn decode_everything(raw: &[u8]) {
    let mut out = Vec::new();
    let _ = unescape_into(raw, &mut out);
    let mut fields = Vec::new();
    split_fields(raw, &mut fields);
    macro_rules! try_all {
        ($($t:ty),*) => {$(
            let _ = <$t>::decode(raw);
            let _ = <Option<$t>>::decode(raw);
            let _ = <Array<$t>>::decode(raw);
        )*};
    }
    try_all!(
        i16,
        i32,
        i64,
        bool,
        f32,
        f64,
        String,
        Uuid,
        Numeric,
        Date,
        Time,
        TimeTz,
        Timestamp,
        TimestampTz,
        Interval,
        Bytea,
        Json,
        Jsonb,
        Inet,
        Cidr,
        PgText
    );
}

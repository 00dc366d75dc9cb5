use replgen_runtime::types::{Array, Uuid};
use replgen_runtime::Replicated;

#[derive(replgen_runtime::Replicated, Debug, PartialEq)]
#[replicated(table = "musicbrainz.artist", id = 1)]
pub struct Artist {
    pub id: i32,
    pub gid: Uuid,
    pub name: String,
    pub comment: Option<std::string::String>,
    pub edits: i64,
    #[replicated(column = "Full Name")]
    pub full_name: Option<String>,
    pub r#type: replgen_runtime::types::Array<i16>,
}

#[derive(Replicated)]
#[replicated(schema = "schema.yaml", table = "artist_credit_name")]
pub struct ArtistCreditName {
    pub artist_credit: i32,
    pub position: i16,
    pub name: String,
}

/// Library types instead of replgen's (replgen-format's features; the runtime's tests enable
/// them all).
#[derive(Replicated, Debug, PartialEq)]
#[replicated(table = "sale", id = 3)]
pub struct Sale {
    pub id: i32,
    pub price: replgen_format::rust_decimal::Decimal,
    pub sold: Option<
        replgen_runtime::types::MaybeInfinite<
            replgen_format::chrono::DateTime<replgen_format::chrono::Utc>,
        >,
    >,
    pub meta: Option<replgen_format::serde_json::Value>,
    pub addr: Option<std::net::IpAddr>,
    pub prices: Option<Array<replgen_format::rust_decimal::Decimal>>,
}

fn main() {
    let a = Artist {
        id: 7,
        gid: Uuid::nil(),
        name: "a\tb".into(),
        comment: None,
        edits: 1,
        full_name: Some(String::new()),
        r#type: Array::from_values(vec![1, 2]),
    };
    let mut out = Vec::new();
    a.encode_fields(&mut out);
    assert_eq!(
        out,
        b"7\t00000000-0000-0000-0000-000000000000\ta\\tb\t\\N\t1\t\t{1,2}"
    );
    let fields: Vec<&[u8]> = out.split(|&b| b == b'\t').collect();
    assert_eq!(Artist::decode_fields(&fields).unwrap(), a);
    assert_eq!(Artist::TABLE.columns[6].sql_type, "smallint[]");
    assert_eq!(ArtistCreditName::TABLE.key, &[0, 1]);

    let line = b"1\t25.990\tinfinity\t{\"a\": [1, 2.5]}\t::1\t{1.50,-2}";
    let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
    let sale = Sale::decode_fields(&fields).unwrap();
    assert_eq!(
        sale.price,
        replgen_format::rust_decimal::Decimal::new(25990, 3)
    );
    assert_eq!(
        sale.sold,
        Some(replgen_runtime::types::MaybeInfinite::Infinity)
    );
    assert_eq!(sale.meta.as_ref().unwrap()["a"][1], 2.5);
    let mut out = Vec::new();
    sale.encode_fields(&mut out);
    assert_eq!(out, line);
}

//! Reading the changes of one table from a packet, with library types for its columns:
//! `cargo run -p replgen-format --features rust_decimal,chrono,serde_json --example read_changes`.
//! The part between the README markers is quoted in README.md (a test checks that it matches).

use replgen_format::packet::{write_trailer, PacketHeader};
use std::io::Write;

// README begin
use replgen_format::changes::{changes_of, Op};
use replgen_format::chrono::{DateTime, NaiveDate, Utc};
use replgen_format::rust_decimal::Decimal;
use replgen_format::types::{MaybeInfinite, Uuid};
use replgen_format::Replicated;

#[derive(Replicated, Debug, PartialEq)]
#[replicated(schema = "examples/artist.yaml", table = "musicbrainz.artist")]
pub struct Artist {
    pub id: i32,
    pub gid: Uuid,
    pub name: String,
    pub begin_date: Option<MaybeInfinite<NaiveDate>>, // a date column that may hold infinity
    pub rating: Option<Decimal>,                      // numeric(5,2)
    pub last_updated: DateTime<Utc>,                  // timestamptz
    pub meta: Option<replgen_format::serde_json::Value>, // jsonb
}

/// Prints the artists a decompressed packet adds, updates and removes.
fn print_changes(packet: impl std::io::BufRead) -> Result<(), replgen_format::DecodeError> {
    let mut changes = changes_of::<Artist, _>(packet);
    for change in &mut changes {
        let change = change?; // a decode error names the line, table, column and key
        match (change.op, change.row) {
            (Op::Add | Op::Update, Some(artist)) => {
                println!(
                    "{}: {} rated {:?}",
                    change.rowid, artist.name, artist.rating
                )
            }
            _ => println!("{}: removed", change.rowid),
        }
    }
    let serial = changes.header().map(|h| h.serial);
    println!("end of packet {serial:?}");
    Ok(())
}
// README end

/// A packet with one added and one removed artist, as a dumper writes it.
fn packet() -> Vec<u8> {
    let artist = Artist {
        id: 7,
        gid: Uuid::from_u128(7),
        name: "Björk".into(),
        begin_date: Some(MaybeInfinite::Finite(
            NaiveDate::from_ymd_opt(1965, 11, 21).unwrap(),
        )),
        rating: Some(Decimal::new(9950, 2)),
        last_updated: "2026-11-28T15:00:00Z".parse().unwrap(),
        meta: Some(replgen_format::serde_json::json!({"aliases": ["Björk Guðmundsdóttir"]})),
    };
    let mut out = Vec::new();
    PacketHeader {
        serial: 42,
        previous: 41,
        feed: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
        previous_sha256: None,
        schema_version: 1,
        fingerprint: "ab".repeat(32),
        created: "2026-11-28T15:00:00Z".into(),
        reload: Vec::new(),
    }
    .write_to(&mut out)
    .unwrap();
    let ts = "2026-11-28 15:00:00+00";
    let mut row = Vec::new();
    artist.encode_fields(&mut row);
    out.extend_from_slice(format!("1\t7\t{ts}\t0\t").as_bytes());
    out.extend_from_slice(&row);
    out.extend_from_slice(format!("\n1\t8\t{ts}\t2\t8\n").as_bytes());
    write_trailer(&mut out, 2).unwrap();
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    print_changes(&packet()[..])?;
    std::io::stdout().flush()?;
    Ok(())
}

//! Codec throughput for a MusicBrainz-like row (9 mixed columns). A measurement, not a check:
//! `cargo test --release -p replgen-runtime --test codec_throughput -- --ignored --nocapture`

use replgen_runtime::codec::FieldSplitter;
use replgen_runtime::types::{TimestampTz, Uuid};
use replgen_runtime::Replicated;
use std::time::Instant;

#[derive(Replicated, Debug, Clone, PartialEq)]
#[replicated(
    schema = "tests/codec_schema.yaml",
    table = "musicbrainz.recording",
    id = 2
)]
pub struct Recording {
    pub id: i32,
    pub gid: Uuid,
    pub name: String,
    pub artist_credit: i32,
    pub length: Option<i32>,
    pub comment: String,
    pub edits_pending: i32,
    pub last_updated: Option<TimestampTz>,
    pub video: bool,
}

fn rows(n: usize) -> Vec<Recording> {
    (0..n)
        .map(|i| Recording {
            id: i as i32,
            gid: Uuid::from_u128(
                (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
            ),
            name: format!("Song number {i} (live at the Café)"),
            artist_credit: (i * 7 % 100_000) as i32,
            length: (i % 5 != 0).then_some((i % 600_000) as i32),
            comment: if i % 3 == 0 {
                "remastered\tedition".into()
            } else {
                String::new()
            },
            edits_pending: (i % 3) as i32,
            last_updated: Some(TimestampTz::new("2024-02-29 13:45:00.123456+00").unwrap()),
            video: i % 11 == 0,
        })
        .collect()
}

/// Decoded rows survive; the figure is printed, and sanity-checked loosely.
#[test]
#[ignore = "a measurement; run in release with --ignored --nocapture"]
fn throughput() {
    const N: usize = 1_000_000;
    let input = rows(N);
    let mut text = Vec::with_capacity(N * 120);
    // Warm up, then measure encoding into one growing buffer (as the dumper writes lines).
    for r in input.iter().take(10_000) {
        r.encode_fields(&mut text);
    }
    text.clear();
    let start = Instant::now();
    for r in &input {
        r.encode_fields(&mut text);
        text.push(b'\n');
    }
    let encode = start.elapsed();

    let mut splitter = FieldSplitter::default();
    let start = Instant::now();
    let mut decoded = 0usize;
    let mut checksum = 0i64;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let fields = splitter.split(line);
        let row = Recording::decode_fields(&fields).unwrap();
        checksum += i64::from(row.id);
        decoded += 1;
    }
    let decode = start.elapsed();
    assert_eq!(decoded, N);
    assert_eq!(checksum, (N as i64 - 1) * N as i64 / 2);

    let mb = text.len() as f64 / 1e6;
    println!(
        "codec throughput ({N} rows, {:.0} bytes/row): encode {:.0} rows/s ({:.0} MB/s), decode {:.0} rows/s ({:.0} MB/s)",
        text.len() as f64 / N as f64,
        N as f64 / encode.as_secs_f64(),
        mb / encode.as_secs_f64(),
        N as f64 / decode.as_secs_f64(),
        mb / decode.as_secs_f64(),
    );
}

//! The typed codec of a MusicBrainz-like row, through `#[derive(Replicated)]`, against the rate
//! at which PostgreSQL itself produces and consumes the same COPY text.

use std::time::{Duration, Instant};

use replgen_runtime::codec::FieldSplitter;
use replgen_runtime::types::{Date, PgText, TimestampTz, Uuid};
use replgen_runtime::Replicated;

use crate::report::{Row, Section};
use crate::util::{self, exec};
use crate::Opts;

/// The project's `artist` row, checked against schema.yaml at compile time.
#[derive(Debug, Clone, PartialEq, Replicated)]
#[replicated(schema = "../schema.yaml", table = "artist", id = 1)]
pub struct Artist {
    pub id: i32,
    pub gid: Uuid,
    pub name: String,
    pub sort_name: String,
    pub begin_date: Option<Date>,
    pub end_date: Option<Date>,
    #[replicated(column = "type")]
    pub r#type: Option<i32>,
    pub area: Option<i32>,
    pub gender: Option<i32>,
    pub comment: String,
    pub edits_pending: i32,
    pub last_updated: Option<TimestampTz>,
    pub ended: bool,
    pub rating: Option<f32>,
    pub popularity: Option<f64>,
    pub coordinates: Option<PgText>,
    pub fluency: Option<PgText>,
}

pub fn run(opts: &Opts) -> Section {
    let rows: u64 = if opts.quick { 100_000 } else { 1_000_000 };
    let cluster = util::cluster();
    let (_url, mut c) = util::database(&cluster, "codecs", false);
    exec(&mut c, &util::insert_artists("artist", 1, rows));
    exec(
        &mut c,
        "CREATE TABLE artist_in (LIKE artist INCLUDING ALL); VACUUM ANALYZE artist;",
    );

    // Baseline: the server writing the same rows as COPY text, read into memory.
    let mut text = Vec::with_capacity(rows as usize * 200);
    exec(&mut c, "CHECKPOINT");
    let start = Instant::now();
    {
        let mut reader = c
            .copy_out(&format!(
                "COPY (SELECT {} FROM artist) TO STDOUT",
                util::ARTIST_COLUMNS
            ))
            .expect("copy out");
        std::io::copy(&mut reader, &mut text).expect("copy out");
    }
    let copy_out = start.elapsed();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len() as u64, rows, "COPY returned every row");

    let mut splitter = FieldSplitter::default();
    // Warm-up pass, then decode everything into typed rows.
    for line in lines.iter().take(10_000) {
        let _ = Artist::decode_fields(&splitter.split(line));
    }
    let start = Instant::now();
    let mut decoded = Vec::with_capacity(lines.len());
    for line in &lines {
        let fields = splitter.split(line);
        decoded.push(
            Artist::decode_fields(&fields)
                .unwrap_or_else(|e| panic!("decode {}: {e}", String::from_utf8_lossy(line))),
        );
    }
    let decode = start.elapsed();

    // What apply runs on every ADD/UPDATE line: decode through the typed codec and drop.
    let check = Artist::TABLE.check_row;
    let start = Instant::now();
    for line in &lines {
        check(&splitter.split(line)).expect("check_row");
    }
    let check_time = start.elapsed();

    let mut encoded = Vec::with_capacity(text.len());
    let start = Instant::now();
    for row in &decoded {
        row.encode_fields(&mut encoded);
        encoded.push(b'\n');
    }
    let encode = start.elapsed();
    let differing = encoded
        .split(|&b| b == b'\n')
        .zip(text.split(|&b| b == b'\n'))
        .filter(|(a, b)| a != b)
        .count();

    // Baseline: the server reading the same text into an empty table with the same indexes.
    exec(&mut c, "CHECKPOINT");
    let start = Instant::now();
    {
        let mut writer = c
            .copy_in(&format!(
                "COPY artist_in ({}) FROM STDIN",
                util::ARTIST_COLUMNS
            ))
            .expect("copy in");
        std::io::Write::write_all(&mut writer, &text).expect("copy in");
        writer.finish().expect("copy in");
    }
    let copy_in = start.elapsed();

    let per_s = |d: Duration| rows as f64 / d.as_secs_f64();
    let mut section = Section::new("7. Codecs", "codec", "PostgreSQL COPY");
    section.intro.push(format!(
        "{} `artist` rows ({:.0} bytes of COPY text each, written by PostgreSQL from the generated workload) through \
         the code `#[derive(Replicated)]` generates for this project's schema.yaml, single-threaded. The baseline \
         is the server's own rate on the same rows: `COPY (SELECT ...) TO STDOUT` for encoding, `COPY artist FROM \
         STDIN` into an empty table with the same indexes for decoding. Ratio = codec rate / COPY rate. The goal \
         (this benchmark's; the brief sets none) is that the codec is never the bottleneck: apply and import run it \
         in the client, on another core than the server's COPY, so any rate above the server's keeps it off the \
         critical path; the goal asks for 2× to leave room on a shared machine. Encoding is not on the mirror's \
         path at all (dump passes the server's text through); it serves users of the typed API.",
        util::rows_label(rows),
        text.len() as f64 / rows as f64
    ));
    for (what, d, base, base_d) in [
        ("encode (struct → COPY text)", encode, "COPY TO", copy_out),
        ("decode (COPY text → struct)", decode, "COPY FROM", copy_in),
        (
            "apply's check_row (decode and drop)",
            check_time,
            "COPY FROM",
            copy_in,
        ),
    ] {
        section.rows.push(
            Row::new(
                what,
                util::rate(rows, d),
                format!("{} ({base})", util::rate(rows, base_d)),
            )
            .ratio(per_s(d) / per_s(base_d))
            .at_least(2.0),
        );
    }
    section.notes.push(format!(
        "Round trip: {} of {} lines re-encode to different bytes than PostgreSQL wrote (0 means the codec's text \
         forms are PostgreSQL's exactly). Encode and decode run at {:.0} and {:.0} MB/s of text.",
        differing,
        rows,
        text.len() as f64 / 1e6 / encode.as_secs_f64(),
        text.len() as f64 / 1e6 / decode.as_secs_f64(),
    ));
    section
}

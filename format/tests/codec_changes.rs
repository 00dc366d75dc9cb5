//! Reading a packet as typed changes, without a database.

use replgen_format::changes::{changes_of, changes_of_file, Change, Op};
use replgen_format::packet::{write_trailer, PacketHeader};
use replgen_format::types::{TimestampTz, Uuid};
use replgen_format::Replicated;
use std::io::Write;

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

fn recording(id: i32, name: &str) -> Recording {
    Recording {
        id,
        gid: Uuid::from_u128(id as u128),
        name: name.into(),
        artist_credit: 7,
        length: if id % 2 == 0 { None } else { Some(1000 * id) },
        comment: String::new(),
        edits_pending: 0,
        last_updated: Some(TimestampTz::new("2026-11-28 15:00:00.5+00").unwrap()),
        video: id == 3,
    }
}

const TS: &str = "2026-11-28 15:00:00.123456+00";

/// A packet with lines of table 2 (ours) and table 1 (another table).
fn packet(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketHeader {
        serial: 42,
        previous: 41,
        feed: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
        previous_sha256: None,
        schema_version: 1,
        fingerprint: "ab".repeat(32),
        created: "2026-11-28T15:00:00.123456Z".into(),
        reload: Vec::new(),
    }
    .write_to(&mut out)
    .unwrap();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    write_trailer(&mut out, lines.len() as u64).unwrap();
    out
}

fn data_line(op: u8, row: &Recording) -> String {
    let mut fields = Vec::new();
    if op == 2 {
        row.encode_key_fields(&mut fields);
    } else {
        row.encode_fields(&mut fields);
    }
    format!(
        "2\t{}\t{TS}\t{op}\t{}",
        row.id,
        String::from_utf8(fields).unwrap()
    )
}

#[test]
fn reads_the_changes_of_one_table() {
    let (a, b, c) = (
        recording(1, "tab\there"),
        recording(2, "\\N"),
        recording(3, "x"),
    );
    let lines = vec![
        "1\t5\t2026-11-28 15:00:00+00\t0\t5\tother table".to_owned(),
        data_line(0, &a),
        data_line(1, &b),
        data_line(2, &c),
    ];
    let changes: Vec<Change<Recording>> = changes_of::<Recording, _>(&packet(&lines)[..])
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0].op, Op::Add);
    assert_eq!(changes[0].row.as_ref(), Some(&a));
    assert_eq!(changes[0].key, vec!["1".to_owned()]);
    assert_eq!(changes[0].timestamp.as_str(), TS);
    assert_eq!(changes[1].op, Op::Update);
    assert_eq!(changes[1].row.as_ref(), Some(&b));
    assert_eq!(changes[2].op, Op::Remove);
    assert_eq!(changes[2].row, None);
    assert_eq!(changes[2].rowid, "3");
    assert_eq!(changes[2].key, vec!["3".to_owned()]);
}

#[test]
fn errors_name_the_line() {
    let bad = data_line(0, &recording(1, "a"))
        .strip_suffix("\tf")
        .unwrap()
        .to_owned()
        + "\tmaybe";
    let lines = vec![data_line(0, &recording(2, "ok")), bad];
    let results: Vec<_> = changes_of::<Recording, _>(&packet(&lines)[..]).collect();
    assert_eq!(results.len(), 2);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.line, Some(11), "{err}");
    assert_eq!(err.column.as_deref(), Some("video"));
    assert_eq!(
        err.to_string(),
        "line 11: musicbrainz.recording.video: (key 1) invalid boolean \"maybe\""
    );

    // A REMOVE line with too many key fields.
    let lines = vec!["2\t9\t2026-11-28 15:00:00+00\t2\t9\t10".to_owned()];
    let err = changes_of::<Recording, _>(&packet(&lines)[..])
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.line, Some(10));
    assert!(err.reason.contains("1 key columns"), "{err}");

    // A truncated packet: the error comes after the good lines.
    let mut text = packet(&[data_line(0, &recording(1, "a"))]);
    text.truncate(text.len() - "# end 1\n".len());
    let results: Vec<_> = changes_of::<Recording, _>(&text[..]).collect();
    assert!(results[0].is_ok());
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("truncated"),
        "{:?}",
        results[1]
    );
    assert_eq!(results.len(), 2);

    // A bad header.
    let results: Vec<_> = changes_of::<Recording, _>(&b"hello\n"[..]).collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().line, Some(1));
}

#[test]
fn reads_a_gzip_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replication-000000042.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&packet(&[data_line(0, &recording(5, "five"))]))
        .unwrap();
    gz.finish().unwrap();
    let changes: Vec<_> = changes_of_file::<Recording>(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].row.as_ref().unwrap().name, "five");
}

#[test]
fn the_header_stays_readable_after_the_last_change() {
    let lines = vec![data_line(0, &recording(1, "a"))];
    let bytes = packet(&lines);
    let mut changes = changes_of::<Recording, _>(&bytes[..]);
    assert_eq!(changes.header().map(|h| h.serial), Some(42));
    assert!(changes.next().unwrap().is_ok());
    assert!(changes.next().is_none());
    assert!(changes.next().is_none());
    assert_eq!(changes.header().map(|h| h.serial), Some(42));

    // Also after an error ends the reading.
    let mut bad = lines.clone();
    bad.push("2\t9\tnot a time\t0\tx".to_owned());
    let bytes = packet(&bad);
    let mut changes = changes_of::<Recording, _>(&bytes[..]);
    assert!(changes.next().unwrap().is_ok());
    assert!(changes.next().unwrap().is_err());
    assert!(changes.next().is_none());
    assert_eq!(changes.header().map(|h| h.serial), Some(42));
}

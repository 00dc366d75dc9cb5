//! Mutation fuzzing of the readers of untrusted feed input: the packet reader, `index.xml` and
//! an export's `manifest.xml`. Valid seeds are mutated (bytes flipped, inserted, deleted,
//! duplicated, spliced, and tokens the formats care about inserted) and each result is read:
//! no panic, every failure a typed error, limits honoured, and whatever parses writes back to
//! itself.
//!
//! The normal suite runs a short bounded number of inputs per reader. The long mode is
//! `REPLGEN_FUZZ_INPUTS=10000000 cargo test --release -p replgen-format --test reader_fuzz`
//! (`REPLGEN_FUZZ_SEED=N` picks another sequence); a panic names the seed, the input number
//! and the input, so it replays exactly. Needs no nightly toolchain and no cargo-fuzz.

use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};

use replgen_format::index::{Entry, FeedInfo, Index};
use replgen_format::manifest::{Manifest, TableFile};
use replgen_format::packet::{Limits, PacketError, PacketHeader, PacketReader};

/// Inputs per reader in the normal suite.
const DEFAULT_INPUTS: u64 = 3000;

const FEED: &str = "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const TIME: &str = "2026-11-28T15:00:00.123456Z";

/// The tokens mutations insert: the formats' delimiters, escapes and edge numbers.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\t",
    b"\r\n",
    b"\\",
    b"\\N",
    b"# end ",
    b"# end 0\n",
    b"# reload ",
    b"# serial ",
    b"<",
    b">",
    b"/>",
    b"\"",
    b"'",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?xml",
    b"<!DOCTYPE x [<!ENTITY e \"e\">]>",
    b"&e;",
    b"=",
    b" ",
    b"0",
    b"-1",
    b"18446744073709551615",
    b"9223372036854775808",
    b"99999999999999999999999",
    b"../",
    b"/etc/passwd",
    b"packets/",
    b"serial=\"",
    b"<packet ",
    b"<export ",
    b"format=\"2\"",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\0",
];

/// xorshift64*: a deterministic, dependency-free source of choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn inputs() -> u64 {
    std::env::var("REPLGEN_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_INPUTS)
}

fn seed() -> u64 {
    std::env::var("REPLGEN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001)
}

/// One to four mutations of a seed picked from `corpus`.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(7) {
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
            1 => data.insert(at, rng.next() as u8),
            2 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let piece = data[start..end].to_vec();
                data.splice(at..at, piece);
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            5 => data.truncate(at),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
        }
    }
    data
}

/// Runs `check` over `inputs()` mutated inputs, naming the one that panics.
fn fuzz(what: &str, corpus: &[Vec<u8>], check: impl Fn(&[u8])) {
    let seed = seed();
    let mut rng = Rng(seed | 1);
    for input in corpus {
        check(input);
    }
    for n in 0..inputs() {
        let data = mutate(&mut rng, corpus);
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!(
                "{what}: input {n} of REPLGEN_FUZZ_SEED={seed} panicked: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}

fn header(serial: u64, reload: Vec<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    PacketHeader {
        serial,
        previous: serial - 1,
        feed: FEED.into(),
        previous_sha256: (serial > 1).then(|| SHA.to_string()),
        schema_version: 1,
        fingerprint: SHA.into(),
        created: TIME.into(),
        reload,
    }
    .write_to(&mut out)
    .unwrap();
    out
}

fn packet_corpus() -> Vec<Vec<u8>> {
    let lines = "1\t1\t2026-11-28 15:00:00.1+00\t0\t1\ttab\\there\t\\N\n\
                 1\t2\t2026-11-28 15:00:00.2+00\t1\t1\tupdated\t0044-03-15 BC\n\
                 10\t(1,1)\t2026-11-28 15:00:00.3+00\t2\t1\t1\n";
    let mut full = header(2, vec![]);
    full.extend_from_slice(lines.as_bytes());
    full.extend_from_slice(b"# end 3\n");
    let mut reload = header(5, vec![1, 10]);
    reload.extend_from_slice(b"1\t1\t2026-11-28 15:00:00.1+00\t0\t1\tx\n# end 1\n");
    let mut empty = header(1, vec![]);
    empty.extend_from_slice(b"# end 0\n");
    vec![full, reload, empty]
}

/// Reads a whole packet under small limits; the typed outcome.
fn read_packet(data: &[u8], limits: Limits) -> Result<u64, PacketError> {
    let mut reader = PacketReader::new(BufReader::with_capacity(64, data), limits)?;
    let mut lines = 0;
    loop {
        let mut fields = Vec::new();
        match reader.next_line(&mut fields)? {
            None => return Ok(lines),
            Some(line) => {
                assert!(line.values.iter().all(|v| v.len() <= limits.max_field));
                lines += 1;
            }
        }
    }
}

#[test]
fn the_packet_reader_survives_mutated_packets() {
    let limits = Limits {
        max_line: 512,
        max_field: 64,
        max_bytes: 4096,
    };
    for seed in packet_corpus() {
        read_packet(&seed, limits).expect("every seed is a valid packet");
    }
    fuzz("packet", &packet_corpus(), |data| {
        if let Err(e) = read_packet(data, limits) {
            // Every failure is one of the typed kinds, with a message.
            assert!(!e.to_string().is_empty());
            if let PacketError::LineTooLong { limit, .. } = e {
                assert_eq!(limit, limits.max_line);
            }
        }
    });
}

fn entry(serial: u64, path: &str) -> Entry {
    Entry {
        serial,
        path: path.into(),
        timestamp: TIME.into(),
        size: 1234,
        sha256: SHA.into(),
        schema_version: 1,
        rows: 17,
    }
}

fn index_corpus() -> Vec<Vec<u8>> {
    let full = Index {
        feed: Some(FeedInfo {
            id: FEED.into(),
            created: TIME.into(),
        }),
        published: Some(TIME.into()),
        packets: (40..43)
            .map(|s| {
                entry(
                    s,
                    &format!("packets/000/000/replication-{s:09}-20261128T150000Z.gz"),
                )
            })
            .collect(),
        export: Some(entry(
            40,
            "exports/export-000000040-20261128T140000Z/manifest.xml",
        )),
    };
    let bare = Index {
        packets: vec![entry(
            1,
            "packets/000/000/replication-000000001-20261128T150000Z.gz",
        )],
        ..Index::default()
    };
    vec![full.to_xml(), bare.to_xml(), Index::default().to_xml()]
}

#[test]
fn the_index_reader_survives_mutated_indexes() {
    fuzz("index.xml", &index_corpus(), |data| {
        if let Ok(index) = Index::parse(data) {
            for entry in index.packets.iter().chain(&index.export) {
                assert!(!entry.path.starts_with('/') && !entry.path.split('/').any(|p| p == ".."));
            }
            assert_eq!(Index::parse(&index.to_xml()).as_ref(), Ok(&index));
        }
    });
}

fn manifest_corpus() -> Vec<Vec<u8>> {
    let table = |id: u32, name: &str| TableFile {
        id,
        name: name.into(),
        path: format!("table-{id}.gz"),
        size: 99,
        sha256: SHA.into(),
        rows: 3,
    };
    let full = Manifest {
        serial: 40,
        feed: FEED.into(),
        packet_sha256: Some(SHA.into()),
        schema_version: 2,
        fingerprint: SHA.into(),
        created: TIME.into(),
        tables: vec![table(1, "public.items"), table(10, "odd \"name\" <&>")],
    };
    let old = Manifest {
        feed: String::new(),
        packet_sha256: None,
        tables: vec![table(3, "t")],
        ..full.clone()
    };
    vec![full.to_xml(), old.to_xml()]
}

#[test]
fn the_manifest_reader_survives_mutated_manifests() {
    fuzz("manifest.xml", &manifest_corpus(), |data| {
        if let Ok(manifest) = Manifest::parse(data) {
            for table in &manifest.tables {
                assert!(!table.path.starts_with('/') && !table.path.split('/').any(|p| p == ".."));
            }
            let back = Manifest::parse(&manifest.to_xml()).expect("what parsed writes back");
            assert_eq!(back, manifest);
        }
    });
}

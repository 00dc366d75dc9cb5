//! Section 10, the 293-table MusicBrainz-like schema (bench/mb): a replica catching up on
//! many packets of writes spread over the tables as MusicBrainz's are, and the cost of each
//! table a packet touches. The statements are written from the generated module's table definitions.

use std::time::Duration;

use replgen_runtime::TableDef;

use crate::catchup;
use crate::mb_replicated::SCHEMA;
use crate::report::{Row, Section};
use crate::shapes::MB;
use crate::util::{self, exec, rate, rows_label, secs};
use crate::Opts;

/// The tables that take most writes, hottest first (MusicBrainz's edits add and change
/// recordings, tracks, credits and their relationships far more than anything else); the
/// rest follow in a fixed shuffled order, each rank taking 1/(rank + 1) of the writes.
const HOT: &[&str] = &[
    "recording",
    "track",
    "l_artist_recording",
    "artist_credit_name",
    "artist_credit",
    "release",
    "medium",
    "release_group",
    "artist",
    "isrc",
    "l_recording_work",
    "work",
];

/// A small deterministic generator (splitmix64): the same workload on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn tables() -> &'static [&'static TableDef] {
    SCHEMA.tables
}

fn table(name: &str) -> &'static TableDef {
    tables()
        .iter()
        .copied()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("bench/mb has no table {name}"))
}

/// The value of column `i` of `t` for row number `g` (an SQL bigint expression): the first key
/// column is unique per row, the other key columns small, NULLs in a third of nullable ones.
fn value(t: &TableDef, i: usize, g: &str) -> String {
    let col = &t.columns[i];
    let first_key = t.key[0] == i;
    let in_key = t.key.contains(&i);
    let ty = col.sql_type;
    let v = if ty == "integer" || ty == "smallint" || ty == "bigint" {
        if first_key {
            format!("({g})::{ty}")
        } else if in_key {
            format!("(({g}) % 7)::{ty}")
        } else {
            format!("((({g}) * {}) % 30000)::{ty}", 7 + i)
        }
    } else if ty == "boolean" {
        format!("({g}) % {} = 0", 2 + i % 3)
    } else if ty == "uuid" {
        format!("md5('{}.{}.' || ({g}))::uuid", t.name, col.name)
    } else if ty == "timestamp with time zone" {
        format!("timestamptz '2024-01-01 00:00:00+00' + ({g}) * interval '17 seconds'")
    } else if ty == "text" || ty.starts_with("character varying") {
        let text = if first_key {
            format!("'c' || ({g})")
        } else {
            format!("'{} ' || ({g})", col.name)
        };
        match ty.strip_prefix("character varying(") {
            Some(n) => format!("left({text}, {})", n.trim_end_matches(')')),
            None => text,
        }
    } else {
        panic!(
            "bench/mb: no values for type {ty} ({}.{})",
            t.name, col.name
        )
    };
    if col.nullable && !in_key {
        format!("CASE WHEN ({g}) % 3 <> 0 THEN {v} END")
    } else {
        v
    }
}

fn column_list(t: &TableDef) -> String {
    t.columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows `from..=to` of `t`.
fn insert(t: &TableDef, from: u64, to: u64) -> String {
    let values = (0..t.columns.len())
        .map(|i| value(t, i, "g"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {} ({}) SELECT {values} FROM generate_series({from}::bigint, {to}::bigint) g",
        t.name,
        column_list(t)
    )
}

fn id_array(ids: &[u64]) -> String {
    let list = ids.iter().map(u64::to_string).collect::<Vec<_>>();
    format!("ARRAY[{}]::bigint[]", list.join(","))
}

/// The first non-key column of the rows numbered `ids` set to another row's value; `None` for
/// a table of key columns only.
fn update(t: &TableDef, ids: &[u64], salt: u64) -> Option<String> {
    let c = (0..t.columns.len()).find(|i| !t.key.contains(i))?;
    let key = t.key[0];
    Some(format!(
        "UPDATE {} t SET \"{}\" = {} FROM unnest({}) s(g) WHERE t.\"{}\" = {}",
        t.name,
        t.columns[c].name,
        value(t, c, &format!("s.g + {salt}")),
        id_array(ids),
        t.columns[key].name,
        value(t, key, "s.g")
    ))
}

fn delete(t: &TableDef, ids: &[u64]) -> String {
    let key = t.key[0];
    format!(
        "DELETE FROM {} WHERE \"{}\" IN (SELECT {} FROM unnest({}) g)",
        t.name,
        t.columns[key].name,
        value(t, key, "g"),
        id_array(ids)
    )
}

/// Rows every table starts with, by its rank in the workload (hot tables are bigger).
fn initial_rows(rank: usize) -> u64 {
    if rank < HOT.len() {
        1_000
    } else {
        50
    }
}

/// The random writes: `packets` steps of about `per_packet` row changes each over the tables by
/// rank (a few hot, most touched rarely), and the setup those ranks start from.
struct Workload {
    setup: String,
    steps: Vec<String>,
    /// How many tables the steps write.
    touched: usize,
}

fn workload(packets: usize, per_packet: u64) -> Workload {
    let mut rng = Rng(16);
    let mut ranked: Vec<&'static TableDef> = HOT.iter().map(|n| table(n)).collect();
    let mut rest: Vec<&'static TableDef> = tables()
        .iter()
        .copied()
        .filter(|t| !HOT.contains(&t.name))
        .collect();
    // Fisher-Yates with the fixed generator.
    for i in (1..rest.len()).rev() {
        rest.swap(i, rng.below(i as u64 + 1) as usize);
    }
    ranked.extend(rest);
    let weights: Vec<f64> = (0..ranked.len()).map(|r| 1.0 / (r as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    let mut next: Vec<u64> = (0..ranked.len()).map(|r| initial_rows(r) + 1).collect();
    let setup = ranked
        .iter()
        .enumerate()
        .map(|(r, t)| insert(t, 1, initial_rows(r)))
        .collect::<Vec<_>>()
        .join("; ");
    let mut steps = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
    for p in 0..packets as u64 {
        let mut statements = Vec::new();
        let mut rows = 0u64;
        while rows < per_packet {
            let mut x = rng.below(1 << 30) as f64 / (1u64 << 30) as f64 * total;
            let rank = weights
                .iter()
                .position(|w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(ranked.len() - 1);
            let t = ranked[rank];
            touched.insert(t.id);
            // Hot tables take bulk edits (a release's tracks), the others one or a few rows.
            let n = if rank < HOT.len() {
                10 + rng.below(50)
            } else {
                1 + rng.below(5)
            };
            let ids: Vec<u64> = (0..n).map(|_| 1 + rng.below(next[rank] - 1)).collect();
            let kind = rng.below(10);
            let statement = match kind {
                0..=5 => update(t, &ids, p + 1),
                6 => Some(delete(t, &ids)),
                _ => None,
            };
            statements.push(statement.unwrap_or_else(|| {
                let from = next[rank];
                next[rank] += n;
                insert(t, from, from + n - 1)
            }));
            rows += n;
        }
        steps.push(statements.join("; "));
    }
    Workload {
        setup,
        steps,
        touched: touched.len(),
    }
}

fn all_names() -> Vec<&'static str> {
    tables().iter().map(|t| t.name).collect()
}

/// 10. The 293-table schema.
pub fn run(opts: &Opts) -> Section {
    let cluster = util::cluster();
    let mut section = Section::new(
        "10. 293-table schema",
        "replgen",
        "the same rows, fewer packets or tables",
    );
    section.intro.push(format!(
        "A MusicBrainz-like schema of {} tables (bench/mb, written by bench/mb/gen.rs): thirteen entities with \
         their alias, annotation, attribute, gid-redirect, meta, tag, rating and type tables, a link table for \
         every pair of twelve entities (`l_artist_recording`), and the tables around releases, tracks, credits \
         and links; mostly integer `id` keys, composite keys of two or three integers (`artist_credit_name \
         (artist_credit, position)`, `<entity>_tag_raw (<entity>, editor, tag)`), uuid keys (gid redirects), \
         text keys (ISO codes), 2 to 19 columns; primary keys only. Its capture and its mirror binary \
         `bench-mb` (a bin of bench/) are generated from bench/mb/schema.yaml. `bench-mb apply` (release \
         binary, wall time of the whole process) is timed; after every apply the replica is compared with its \
         master table by table (row count and a sum of row hashes).",
        tables().len()
    ));
    catch_up(opts, &cluster, &mut section);
    per_table(opts, &cluster, &mut section);
    section
}

/// A replica behind by 34 packets of writes spread over the tables, against the same writes as
/// one packet; medians of the rounds.
fn catch_up(opts: &Opts, cluster: &replgen_testkit::Cluster, section: &mut Section) {
    let (packets, rounds) = if opts.quick { (6, 1) } else { (34, 3) };
    let work = workload(packets, 441);
    let names = all_names();
    let c = catchup::catch_up(
        cluster,
        &MB,
        "mb_catchup",
        &work.setup,
        &work.steps,
        &names,
        rounds,
    );
    let rows = c.rows;
    catchup::push(
        section,
        format!(
            "{packets} packets, {} rows of random writes over the tables",
            rows_label(rows)
        ),
        &c,
        0.7,
    );
    let touched = work.touched;
    section.notes.push(format!(
        "Catch-up (median of {rounds} round{}): every table starts with {} rows ({} hot ones: {}) or {}; then \
         {packets} packets of about 441 row changes each (six in ten updates of one column, one in ten deletes, \
         the rest inserts, of random existing rows), each statement on a table drawn with probability \
         1/(rank + 1): the hot tables first, the rest in a fixed shuffled order; hot tables take 10 to 59 rows a \
         statement, the others 1 to 5. {touched} of the {} tables are written. Two masters run the same \
         statements (section 9's method): one cuts a packet after each step, the other once at the end (fewer \
         rows: a row changed twice is one line there). Ratio = one-packet time / {packets}-packets time.",
        if rounds == 1 { "" } else { "s" },
        initial_rows(0),
        HOT.len(),
        HOT.join(", "),
        initial_rows(HOT.len()),
        tables().len()
    ));
}

/// One packet touching 280 tables against one of as many rows in one table, each applied alone;
/// (280-table time − one-table time) / 280 is what a table costs a packet.
fn per_table(opts: &Opts, cluster: &replgen_testkit::Cluster, section: &mut Section) {
    const TOUCHED: usize = 280;
    const ROWS: u64 = 12_700;
    let rounds = if opts.quick { 1 } else { 3 };
    let feed = tempfile::tempdir().unwrap();
    let dir = feed.path().to_str().unwrap().to_string();
    let (murl, mut m) = MB.database(cluster, "mb_tables_master", true);
    let (rurl, mut r) = MB.database(cluster, "mb_tables_replica", false);
    let names = all_names();
    let one = table("recording");
    let spread = &tables()[..TOUCHED];
    // Every table's next new row number.
    let mut next = vec![1u64; tables().len()];
    let (mut many_t, mut one_t) = (Vec::new(), Vec::new());
    // Round 0 warms the caches and is not counted.
    for round in 0..=rounds {
        for spread_out in [true, false] {
            let sql = if spread_out {
                spread
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        let n =
                            ROWS / TOUCHED as u64 + u64::from((k as u64) < ROWS % TOUCHED as u64);
                        let i = t.id as usize - 1;
                        let from = next[i];
                        next[i] += n;
                        insert(t, from, from + n - 1)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                let i = one.id as usize - 1;
                let from = next[i];
                next[i] += ROWS;
                insert(one, from, from + ROWS - 1)
            };
            exec(&mut m, &sql);
            util::run(
                &mut (MB.mirror)(&["dump", "--db", &murl, "--out", &dir]),
                "bench-mb dump",
            );
            exec(&mut r, "CHECKPOINT");
            let run = util::run(
                &mut (MB.mirror)(&["apply", "--db", &rurl, "--from", &dir]),
                "bench-mb apply",
            );
            util::same_tables(&mut m, &mut r, &names, "mb per table");
            if round > 0 {
                if spread_out { &mut many_t } else { &mut one_t }.push(run.elapsed.as_secs_f64());
            }
        }
    }
    let (many, one_s) = (util::median(many_t), util::median(one_t));
    let per = (many - one_s) / TOUCHED as f64;
    eprintln!(
        "  per table: {TOUCHED} tables {many:.3} s, one table {one_s:.3} s, {:.2} ms a table",
        per * 1e3
    );
    let d = |s: f64| Duration::from_secs_f64(s);
    section.rows.push(
        Row::new(
            format!(
                "one packet of {} rows touching {TOUCHED} tables",
                rows_label(ROWS)
            ),
            format!(
                "{} ({}); {:.2} ms a table",
                secs(d(many)),
                rate(ROWS, d(many)),
                per * 1e3
            ),
            format!(
                "{} rows in one table (`{}`): {} ({})",
                rows_label(ROWS),
                one.name,
                secs(d(one_s)),
                rate(ROWS, d(one_s))
            ),
        )
        .ratio(one_s / many)
        .goal("≤ 2 ms a table", per <= 0.002)
        .headline(),
    );
    section.notes.push(format!(
        "Per-table cost (median of {rounds} round{} after one warm-up): a packet of {ROWS} new rows, 45 or 46 in \
         each of the first {TOUCHED} tables, against a packet of {ROWS} new rows in `{}` alone, each cut by \
         `bench-mb dump` and applied alone by `bench-mb apply`, alternating; (spread time − one-table time) / \
         {TOUCHED} is what each table touched costs a packet; ratio = one-table time / spread time.",
        if rounds == 1 { "" } else { "s" },
        one.name
    ));
}

//! Catch-up: a replica behind by many small packets against the same changes as one packet, and
//! the merge statements' shapes (DELETE + INSERT against UPDATE in place) on a narrow table.

use std::time::{Duration, Instant};

use postgres::Client;
use replgen_runtime::def::{ColumnDef, TableDef};
use replgen_runtime::sql;

use crate::report::{Row, Section};
use crate::util::{self, exec, mirror, rate, rows_label, secs};
use crate::Opts;

/// What one catch-up measured: medians of its rounds.
pub struct CatchUp {
    pub packets: usize,
    pub rows: u64,
    pub many: Duration,
    pub one: Duration,
    pub one_rows: u64,
    /// Every round's (many, one) times, in round order.
    pub rounds: Vec<(Duration, Duration)>,
}

/// One side of a catch-up: a master, its feed, and its replica as of packet 1 (the template of
/// every round's replica).
struct Side {
    master: Client,
    feed: tempfile::TempDir,
    replica: String,
    pending: usize,
    rows: u64,
}

/// Two masters of `shape` start from the rows of `setup` (each dumped and applied as its packet
/// 1, untimed), then run the same statements: one cuts a packet after each step, the other one
/// packet at the end. Each round copies both replicas as of packet 1 (`CREATE DATABASE ...
/// TEMPLATE`), times the apply of everything pending into each copy, alternating which goes
/// first, and checks it against its master on `tables`.
pub fn catch_up(
    cluster: &replgen_testkit::Cluster,
    shape: &util::Shape,
    name: &str,
    setup: &str,
    steps: &[String],
    tables: &[&str],
    rounds: usize,
) -> CatchUp {
    let mirror = shape.mirror;
    let mut sides: Vec<Side> = (0..2)
        .map(|i| {
            let feed = tempfile::tempdir().unwrap();
            let dir = feed.path().to_str().unwrap().to_string();
            let replica = format!("{name}_replica_{i}");
            let (murl, mut m) = shape.database(cluster, &format!("{name}_master_{i}"), true);
            let (rurl, mut r) = shape.database(cluster, &replica, false);
            exec(&mut m, setup);
            let dump = || mirror(&["dump", "--db", &murl, "--out", &dir]);
            util::run(&mut dump(), "mirror dump");
            util::run(
                &mut mirror(&["apply", "--db", &rurl, "--from", &dir]),
                "mirror apply",
            );
            exec(&mut r, "VACUUM ANALYZE");
            // A template takes no other connection.
            drop(r);
            for step in steps {
                exec(&mut m, step);
                if i == 0 {
                    util::run(&mut dump(), "mirror dump");
                }
            }
            if i == 1 {
                util::run(&mut dump(), "mirror dump");
            }
            Side {
                master: m,
                pending: util::packets(feed.path()).len() - 1,
                rows: count_rows(&dir),
                feed,
                replica,
            }
        })
        .collect();
    let mut admin = cluster.connect("postgres");
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let side = &mut sides[i];
            let copy = format!("{}_r{round}", side.replica);
            exec(
                &mut admin,
                &format!("CREATE DATABASE {copy} TEMPLATE {}", side.replica),
            );
            let url = cluster.url(&copy);
            let mut r = cluster.connect(&copy);
            exec(&mut r, "CHECKPOINT");
            let run = util::run(
                &mut mirror(&[
                    "apply",
                    "--db",
                    &url,
                    "--from",
                    side.feed.path().to_str().unwrap(),
                ]),
                "mirror apply",
            );
            util::same_tables(&mut side.master, &mut r, tables, name);
            times[i].push(run.elapsed);
        }
    }
    let median = |v: &[Duration]| {
        Duration::from_secs_f64(util::median(v.iter().map(Duration::as_secs_f64).collect()))
    };
    CatchUp {
        packets: sides[0].pending,
        rows: sides[0].rows,
        many: median(&times[0]),
        one: median(&times[1]),
        one_rows: sides[1].rows,
        rounds: times[0]
            .iter()
            .copied()
            .zip(times[1].iter().copied())
            .collect(),
    }
}

/// Rows of every packet after the first, as the index lists them.
fn count_rows(dir: &str) -> u64 {
    let xml = std::fs::read_to_string(std::path::Path::new(dir).join("index.xml")).expect("index");
    xml.split("<packet ")
        .skip(2)
        .filter_map(|p| {
            let at = p.find("rows=\"")? + 6;
            p[at..].split('"').next()?.parse::<u64>().ok()
        })
        .sum()
}

pub fn push(section: &mut Section, what: String, c: &CatchUp, goal: f64) {
    let each: Vec<String> = c
        .rounds
        .iter()
        .map(|(many, one)| format!("{} / {}", secs(*many), secs(*one)))
        .collect();
    eprintln!(
        "  {what}: {} packets vs one packet: {}",
        c.packets,
        each.join(", ")
    );
    section.notes.push(format!(
        "{what}, per round (many packets / one packet): {}.",
        each.join(", ")
    ));
    section.rows.push(
        Row::new(
            what,
            format!(
                "{} ({} packets, {})",
                secs(c.many),
                c.packets,
                rate(c.rows, c.many)
            ),
            format!(
                "{} (1 packet, {} rows)",
                secs(c.one),
                rows_label(c.one_rows)
            ),
        )
        .ratio(c.one.as_secs_f64() / c.many.as_secs_f64())
        .at_least(goal)
        .headline(),
    );
}

/// 9. Catch-up and the merge's shapes.
pub fn run(opts: &Opts) -> Section {
    let cluster = util::cluster();
    let mut section = Section::new(
        "9. Catch-up",
        "mirror apply of many packets",
        "the same changes as one packet",
    );
    section.intro.push(
        "A replica behind by many packets, caught up by one `mirror apply` (release binary, wall time), against \
         a second replica applying the same changes cut as one packet (two masters start from the same artists, \
         each applied untimed as packet 1, and run the same statements; one cuts a packet after every step, the \
         other once at the end). Each round applies into fresh copies of both replicas as of packet 1 (`CREATE \
         DATABASE ... TEMPLATE`), alternating which goes first; figures are medians of the rounds (3; 1 in quick \
         mode). Ratio = one-packet time / many-packets time (higher is better; 1× means a packet \
         costs nothing beyond its rows). Consecutive packets of one layout apply as one batch (one staging COPY \
         and merge per table for the whole batch, staged newest packet first, a line whose key a newer packet \
         changes again left out, or in packet order when its first and last packets open with new rows only; \
         the last packet's position), bounded at 500,000 rows, 64 MiB or 256 packets."
            .into(),
    );
    let (small, per) = if opts.quick {
        (20, 1_000)
    } else {
        (300, 1_000)
    };
    let rounds = if opts.quick { 1 } else { 3 };
    let steps: Vec<String> = (0..small as u64)
        .map(|k| util::insert_artists("artist", 1_000_001 + k * per, 1_000_000 + (k + 1) * per))
        .collect();
    let c = catch_up(
        &cluster,
        &util::PROJECT,
        "catchup_small",
        &util::insert_artists("artist", 1, 10_000),
        &steps,
        &["artist"],
        rounds,
    );
    push(
        &mut section,
        format!("{small} packets × {} new rows", rows_label(per)),
        &c,
        0.7,
    );

    // A week behind: 168 hourly packets. MusicBrainz's own hourly replication packets carry some
    // thousands of row changes in a busy hour; 2,000 a packet (1,200 updates of existing rows,
    // 600 new rows, 200 deletes) over a 200k-artist table is that order.
    let (hours, base) = if opts.quick {
        (12u64, 20_000u64)
    } else {
        (168, 200_000)
    };
    let steps: Vec<String> = (0..hours)
        .map(|h| {
            let new_from = 1_000_001 + h * 600;
            format!(
                "UPDATE artist SET edits_pending = edits_pending + 1, name = name || '.' \
                   WHERE id IN (SELECT 1 + (g * 7919 + {h} * 104729) % {base} FROM generate_series(1, 1200) g); \
                 {}; \
                 DELETE FROM artist WHERE id IN (SELECT 1 + (g * 6007 + {h} * 1299709) % {base} FROM generate_series(1, 200) g)",
                util::insert_artists("artist", new_from, new_from + 599)
            )
        })
        .collect();
    let c = catch_up(
        &cluster,
        &util::PROJECT,
        "catchup_week",
        &util::insert_artists("artist", 1, base),
        &steps,
        &["artist"],
        rounds,
    );
    push(
        &mut section,
        format!("a week behind: {hours} hourly packets of ~2,000 row changes"),
        &c,
        0.7,
    );
    section.notes.push(
        "The week's packets: 1,200 updates of existing artists, 600 new ones and 200 deletes an hour (MusicBrainz's \
         hourly packets carry some thousands of row changes); the one-packet baseline holds fewer rows, since a \
         row changed in several hours is one line there (compare the rows/s)."
            .into(),
    );
    per_table(&cluster, &mut section);
    merge_shapes(&cluster, opts, &mut section);
    section
}

/// INSERTs of `n` new rows into every replicated table (ids from `from`).
fn every_table(from: u64, n: u64) -> String {
    let to = from + n - 1;
    let g = format!("generate_series({from}, {to}) g");
    [
        format!("INSERT INTO area (id, gid, name) SELECT g, md5('area' || g)::uuid, 'Area ' || g FROM {g}"),
        util::insert_artists("artist", from, to),
        format!("INSERT INTO label (id, gid, name) SELECT g, md5('label' || g)::uuid, 'Label ' || g FROM {g}"),
        format!("INSERT INTO release_group (id, gid, name, artist_credit) SELECT g, md5('rg' || g)::uuid, 'RG ' || g, g FROM {g}"),
        format!("INSERT INTO release (id, gid, name, artist_credit, release_group) SELECT g, md5('rel' || g)::uuid, 'Rel ' || g, g, g FROM {g}"),
        format!("INSERT INTO medium (id, release, position) SELECT g, g, 1 FROM {g}"),
        format!("INSERT INTO recording (id, gid, name, artist_credit) SELECT g, md5('rec' || g)::uuid, 'Rec ' || g, g FROM {g}"),
        format!("INSERT INTO track (id, gid, recording, medium, position, number, name, artist_credit) \
                 SELECT g, md5('track' || g)::uuid, g, g, 1, '1', 'Track ' || g, g FROM {g}"),
        format!("INSERT INTO artist_credit (id, name, artist_count, gid) SELECT g, 'AC ' || g, 1, md5('ac' || g)::uuid FROM {g}"),
        format!("INSERT INTO artist_credit_name (artist_credit, position, artist, name) SELECT g, 0, g, 'ACN ' || g FROM {g}"),
        format!("INSERT INTO artist_gid_redirect (gid, new_id) SELECT md5('redir' || g)::uuid, g FROM {g}"),
        format!("INSERT INTO tag (id, name) SELECT g, 'tag ' || g FROM {g}"),
        format!("INSERT INTO artist_tag (artist, tag, count) SELECT g, g, 1 FROM {g}"),
        format!("INSERT INTO replication_control_note (code) SELECT 'note ' || g FROM {g}"),
        format!("INSERT INTO musicbrainz.editor_note (editor, id, note) SELECT g, g, 'note ' || g FROM {g}"),
    ]
    .join("; ")
}

/// The cost of each table a packet touches: packets of the same number of rows in all 15 tables
/// or in one, each applied by its own `mirror apply` (median of 5 each).
fn per_table(cluster: &replgen_testkit::Cluster, section: &mut Section) {
    const TABLES: u64 = 15;
    const PER: u64 = 100;
    let feed = tempfile::tempdir().unwrap();
    let dir = feed.path().to_str().unwrap().to_string();
    let (murl, mut m) = util::database(cluster, "catchup_tables_master", true);
    let (rurl, _r) = util::database(cluster, "catchup_tables_replica", false);
    let (mut many, mut one) = (Vec::new(), Vec::new());
    let mut next = 1u64;
    for _ in 0..6 {
        for spread in [true, false] {
            if spread {
                exec(&mut m, &every_table(next, PER));
                next += PER;
            } else {
                exec(
                    &mut m,
                    &util::insert_artists("artist", next, next + TABLES * PER - 1),
                );
                next += TABLES * PER;
            }
            util::run(
                &mut mirror(&["dump", "--db", &murl, "--out", &dir]),
                "mirror dump",
            );
            let run = util::run(
                &mut mirror(&["apply", "--db", &rurl, "--from", &dir]),
                "mirror apply",
            );
            if spread { &mut many } else { &mut one }.push(run.elapsed.as_secs_f64());
        }
    }
    // The first of each warms the caches.
    let (many, one) = (
        util::median(many[1..].to_vec()),
        util::median(one[1..].to_vec()),
    );
    let per = (many - one) / (TABLES - 1) as f64;
    eprintln!(
        "  per table: {TABLES} tables {many:.3} s, one table {one:.3} s, {:.1} ms a table",
        per * 1e3
    );
    section.rows.push(
        Row::new(
            format!(
                "one packet of {} rows in {TABLES} tables: cost of each table beyond the first",
                TABLES * PER
            ),
            format!(
                "{:.1} ms a table ({TABLES} tables: {})",
                per * 1e3,
                secs(Duration::from_secs_f64(many))
            ),
            format!(
                "{} rows in one table: {}",
                TABLES * PER,
                secs(Duration::from_secs_f64(one))
            ),
        )
        .goal("≤ 2 ms a table", per <= 0.002)
        .headline(),
    );
    section.notes.push(format!(
        "Per-table cost: packets of {} new rows, {PER} in each of the project's {TABLES} tables or all in `artist`, \
         each applied alone by `mirror apply` (median of 5 after one warm-up each); (15-table time − 1-table \
         time) / {} is what each further table costs a packet. Section 10 measures the same on a 293-table \
         schema.",
        TABLES * PER,
        TABLES - 1
    ));
}

/// A narrow MusicBrainz-like table (10 columns, integer key, no other index), known only to
/// this benchmark: its merge statements are rendered from the runtime's templates.
const NARROW_COLUMNS: &[ColumnDef] = &[
    col("id", "integer", false),
    col("gid", "uuid", false),
    col("name", "character varying", false),
    col("sort_name", "character varying", false),
    col("type", "integer", true),
    col("area", "integer", true),
    col("gender", "integer", true),
    col("comment", "character varying(255)", false),
    col("edits_pending", "integer", false),
    col("last_updated", "timestamp with time zone", true),
];

const fn col(name: &'static str, sql_type: &'static str, nullable: bool) -> ColumnDef {
    ColumnDef {
        name,
        sql_type,
        nullable,
        renamed_from: None,
    }
}

const NARROW: TableDef = TableDef {
    id: 900_001,
    schema: "public",
    name: "artist_narrow",
    columns: NARROW_COLUMNS,
    key: &[0],
    check_row: |_| Ok(()),
    check_key: |_| Ok(()),
};

const NARROW_DDL: &str = "DROP TABLE IF EXISTS artist_narrow; CREATE TABLE artist_narrow (id integer PRIMARY KEY, \
    gid uuid NOT NULL, name varchar NOT NULL, sort_name varchar NOT NULL, type integer, area integer, \
    gender integer, comment varchar(255) NOT NULL, edits_pending integer NOT NULL, last_updated timestamptz)";

fn narrow_rows(from: u64, to: u64, edit: &str) -> String {
    format!(
        "SELECT g, md5('artist' || g)::uuid, 'Artist ' || g || '{edit}', 'Artist, ' || g, 1 + g % 6, \
         CASE WHEN g % 3 <> 0 THEN g % 5000 END, CASE WHEN g % 2 = 0 THEN 1 + g % 3 END, \
         CASE WHEN g % 5 = 0 THEN 'UK rock band' ELSE '' END, g % 3, \
         timestamptz '2024-01-01 00:00:00+00' + g * interval '17 seconds' \
         FROM generate_series({from}::bigint, {to}::bigint) g"
    )
}

/// Stages `rows` (seq 0, op ADD) and merges them the given way, timing both; in a transaction
/// that commits (as apply's).
fn stage_and_merge(client: &mut Client, rows: &str, how: sql::Merge) -> Duration {
    let cols = NARROW_COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ");
    let mut tx = client.transaction().expect("begin");
    replgen_runtime::replica::prepare_stage(&mut tx, &NARROW).expect("stage");
    let start = Instant::now();
    tx.batch_execute(&format!(
        "INSERT INTO {} (replgen_seq, replgen_op, {cols}) SELECT 0, 0, * FROM ({rows}) r",
        sql::stage_name(&NARROW)
    ))
    .expect("stage rows");
    tx.batch_execute(&sql::merge(&NARROW, how)).expect("merge");
    tx.commit().expect("commit");
    start.elapsed()
}

/// DELETE + INSERT against UPDATE in place for the narrow table: an update of every row and an
/// insert of as many new rows, each on a fresh, vacuumed table, against COPY of the same rows.
fn merge_shapes(cluster: &replgen_testkit::Cluster, opts: &Opts, section: &mut Section) {
    let n = opts.rows();
    let (_url, mut c) = util::database(cluster, "catchup_narrow", false);
    let rows_file = tempfile::NamedTempFile::new().expect("temp file");
    let mut results = Vec::new();
    for (label, update) in [
        ("update-heavy (every row)", true),
        ("insert-heavy (new rows)", false),
    ] {
        let mut times = Vec::new();
        for in_place in [false, true] {
            exec(&mut c, NARROW_DDL);
            if update {
                exec(
                    &mut c,
                    &format!("INSERT INTO artist_narrow {}", narrow_rows(1, n, "")),
                );
            }
            exec(&mut c, "VACUUM ANALYZE artist_narrow");
            exec(&mut c, "CHECKPOINT");
            let how = sql::Merge {
                analyze: true,
                skip_new_keys: true,
                batched: false,
                in_place,
            };
            let (from, to) = if update { (1, n) } else { (n + 1, 2 * n) };
            times.push(stage_and_merge(
                &mut c,
                &narrow_rows(from, to, " (upd)"),
                how,
            ));
        }
        // The baseline: COPY of the same rows into an empty table.
        let (from, to) = if update { (1, n) } else { (n + 1, 2 * n) };
        util::copy_out(
            &mut c,
            &format!("COPY ({}) TO STDOUT", narrow_rows(from, to, " (upd)")),
            Some(rows_file.path()),
        );
        exec(&mut c, NARROW_DDL);
        exec(&mut c, "CHECKPOINT");
        let start = Instant::now();
        util::copy_in(&mut c, "COPY artist_narrow FROM STDIN", rows_file.path());
        let copy = start.elapsed();
        eprintln!(
            "  narrow {label}: delete+insert {} in place {} COPY {}",
            secs(times[0]),
            secs(times[1]),
            secs(copy)
        );
        results.push((label, times, copy));
    }
    section.notes.push(format!(
        "Merge shapes on a narrow table (10 columns, integer key, no other index; {} rows), statements only \
         (stage with INSERT ... SELECT into the staging table, ANALYZE it, merge, commit; no packet decoding), on a \
         fresh vacuumed table each time, against `COPY FROM STDIN` of the same rows into an empty table (ratio = \
         COPY time / merge time): {}. The upsert (`DELETE` of the removed keys, then `INSERT ... ON CONFLICT (key) DO \
         UPDATE`, possible only where the key's is the sole unique index) was tried for update-heavy packets and \
         is slower, so apply runs DELETE + INSERT (or, for a long run of new rows, a COPY straight into the table); it stays here as the measured alternative.",
        rows_label(n),
        results
            .iter()
            .map(|(label, t, copy)| format!(
                "{label}: DELETE + INSERT {} ({:.2}×), upsert on the key {} ({:.2}×), COPY {}",
                secs(t[0]),
                copy.as_secs_f64() / t[0].as_secs_f64(),
                secs(t[1]),
                copy.as_secs_f64() / t[1].as_secs_f64(),
                secs(*copy)
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
}

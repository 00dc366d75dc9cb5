//! The narrow shape (bench/src/shapes.rs): dump and capture of a 10-column `artist` with an
//! integer primary key and no other index, each against its baseline in the same run, medians
//! of three rounds.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use replgen_runtime::Replicated;

use crate::capture;
use crate::narrow_replicated::Artist as NarrowArtist;
use crate::report::{Row, Section};
use crate::shapes::{self, NARROW_COLUMNS};
use crate::util::{self, exec, mb, rate, rows_label, secs, timed};
use crate::Opts;

const ROUNDS: usize = 3;

fn intro(opts: &Opts, section: &mut Section) {
    let rows = opts.rows();
    section.intro.push(format!(
        "The headline shape: a MusicBrainz-like `artist` of 10 columns (bench/narrow/tables.sql: `id integer` \
         primary key, `gid uuid`, `name`, `sort_name`, `begin_date_year smallint`, `type`, `area`, `comment \
         varchar(255)`, `edits_pending`, `last_updated timestamptz`; no other index), {r} rows, its capture \
         generated from bench/narrow/schema.yaml and its mirror binary `bench-narrow` (a bin of bench/). Every \
         figure is the median of {ROUNDS} rounds, each measured next to its baseline.",
        r = rows_label(rows)
    ));
    section.intro.push(
        "Dump: `bench-narrow dump` (release binary, wall time of the whole process: connect, check, cut, gzip, \
         sha256, fsync, publish, index) against `COPY (SELECT <the 10 columns> FROM artist) TO STDOUT` of the \
         same rows read by a client and discarded; ratio = COPY time / dump time (higher is better). Before each \
         the table and its log are analyzed and a CHECKPOINT taken. Bytes: the packet's size against the same \
         rows' COPY text compressed by gzip's default level 6 (flate2, one stream), per row (lower is better). \
         Capture: one statement of every row on the captured table against the same on an identical table \
         without triggers (`LIKE artist INCLUDING ALL`) in the same database, alternating which goes first, \
         each after a CHECKPOINT, with autovacuum off on the tables measured; ratio = with / without (lower is \
         better)."
            .into(),
    );
}

/// The narrow shape's dump rows.
pub fn dump(opts: &Opts) -> Section {
    let mut section = Section::new("0a. Narrow table: dump", "replgen", "baseline");
    intro(opts, &mut section);
    dump_rows(opts, &mut section);
    section
}

/// The narrow shape's capture rows.
pub fn capture(opts: &Opts) -> Section {
    let mut section = Section::new("0b. Narrow table: capture", "replgen", "baseline");
    section
        .intro
        .push("The narrow shape of section 0a; capture as described there.".into());
    capture_rows(opts, &mut section);
    section
}

fn select_all() -> String {
    format!("COPY (SELECT {NARROW_COLUMNS} FROM artist) TO STDOUT")
}

fn dump_rows(opts: &Opts, section: &mut Section) {
    let rows = opts.rows();
    let cluster = util::cluster();
    let (url, mut m) = shapes::narrow_database(&cluster, "master", true);
    let feed = tempfile::tempdir().expect("temp dir");
    let labels = ["inserted", "updated (non-key column)"];
    // [label] -> per round (dump, copy)
    let mut times: [Vec<(Duration, Duration)>; 2] = [Vec::new(), Vec::new()];
    let mut packet_bytes = [0u64; 2];
    let mut peak_rss = [0u64; 2];
    let mut gz_copy_bytes = 0u64;
    // Round 1's inserted packet's text recompressed at levels 6 and 9 (the format's floor).
    let mut recompressed = [0u64; 2];
    let mut floor = (Duration::ZERO, Duration::ZERO);
    let mut join = (Duration::ZERO, "");
    let mut copy_bytes = 0u64;
    let mut breakdown = String::new();
    let mut server_part = Duration::ZERO;
    // The inserted rows' dumps: their CPU time (user and system).
    let mut dump_cpu = Vec::new();
    for round in 0..ROUNDS {
        exec(&mut m, "TRUNCATE artist");
        exec(&mut m, "TRUNCATE replgen.log_1");
        for (i, label) in labels.iter().enumerate() {
            if i == 0 {
                exec(&mut m, &shapes::insert_narrow("artist", 1, rows));
            } else {
                exec(
                    &mut m,
                    "UPDATE artist SET edits_pending = edits_pending + 1, name = name || ' (upd)'",
                );
            }
            exec(
                &mut m,
                "VACUUM ANALYZE artist; ANALYZE replgen.log_1; CHECKPOINT",
            );
            let start = Instant::now();
            let n = util::copy_out(&mut m, &select_all(), None);
            let copy_time = start.elapsed();
            if round == 0 && i == 0 {
                copy_bytes = n;
                let (gz, text) = gzip_copy(&mut m);
                gz_copy_bytes = gz;
                (breakdown, server_part) = dump_breakdown(&mut m, text);
                floor = format_floor(&mut m);
                join = join_floor(&mut m);
            }
            exec(&mut m, "CHECKPOINT");
            let before = util::packets(feed.path()).len();
            let run = util::run(
                &mut shapes::narrow_mirror(&[
                    "dump",
                    "--db",
                    &url,
                    "--out",
                    feed.path().to_str().unwrap(),
                ]),
                "bench-narrow dump",
            );
            let packets = util::packets(feed.path());
            assert_eq!(packets.len(), before + 1, "the dump published one packet");
            let size = std::fs::metadata(packets.last().unwrap())
                .expect("packet")
                .len();
            eprintln!(
                "  narrow dump round {} {label}: {} (COPY {}), packet {}",
                round + 1,
                secs(run.elapsed),
                secs(copy_time),
                mb(size)
            );
            times[i].push((run.elapsed, copy_time));
            if i == 0 {
                dump_cpu.push(run.cpu.as_secs_f64());
            }
            packet_bytes[i] = size;
            if round == 0 && i == 0 {
                recompressed = recompress(packets.last().unwrap());
            }
            peak_rss[i] = peak_rss[i].max(run.max_rss);
        }
    }
    for (i, label) in labels.iter().enumerate() {
        let dump = util::median(times[i].iter().map(|t| t.0.as_secs_f64()).collect());
        let copy = util::median(times[i].iter().map(|t| t.1.as_secs_f64()).collect());
        let (d, c) = (Duration::from_secs_f64(dump), Duration::from_secs_f64(copy));
        section.rows.push(
            Row::new(
                format!("dump of {} {label} rows", rows_label(rows)),
                format!("{} ({})", secs(d), rate(rows, d)),
                format!("{} ({}, COPY TO STDOUT)", secs(c), rate(rows, c)),
            )
            .ratio(copy / dump)
            .at_least(0.6)
            .headline(),
        );
    }
    section.rows.push(
        Row::new(
            "packet bytes per inserted row (baseline: the rows' COPY text, gzip level 6)",
            format!("{:.1} B", packet_bytes[0] as f64 / rows as f64),
            format!("{:.1} B", gz_copy_bytes as f64 / rows as f64),
        )
        .ratio(packet_bytes[0] as f64 / gz_copy_bytes as f64)
        .at_most(1.0)
        .headline(),
    );
    let per_round = |i: usize| {
        times[i]
            .iter()
            .map(|(d, c)| format!("{} / {}", secs(*d), secs(*c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    section.notes.push(format!(
        "Dump per round (dump / COPY): inserted {}; updated {}. COPY text {} ({:.1} B per row), gzip level 6 of it {}; \
         packets {} (inserted) and {} (updated); the dump's peak RSS {} and {}.",
        per_round(0),
        per_round(1),
        mb(copy_bytes),
        copy_bytes as f64 / rows as f64,
        mb(gz_copy_bytes),
        mb(packet_bytes[0]),
        mb(packet_bytes[1]),
        mb(peak_rss[0]),
        mb(peak_rss[1]),
    ));
    for (level, bytes) in [6, 9].iter().zip(recompressed) {
        section.rows.push(
            Row::new(
                format!("reference: the same packet's text at gzip level {level} (bytes per row)"),
                format!("{:.1} B", bytes as f64 / rows as f64),
                format!("{:.1} B", gz_copy_bytes as f64 / rows as f64),
            )
            .ratio(bytes as f64 / gz_copy_bytes as f64),
        );
    }
    section.rows.push(
        Row::new(
            "reference: COPY of the lines a one-statement cut reads (rowid, op, the columns), straight from the table (no log, no join, no gzip; ratio = COPY / this)",
            secs(floor.0),
            format!("{} (COPY TO STDOUT)", secs(floor.1)),
        )
        .ratio(floor.1.as_secs_f64() / floor.0.as_secs_f64()),
    );
    section.rows.push(
        Row::new(
            format!(
                "reference: COPY of the same lines of the rows the cut's logged keys pick: the log's keys joined with the table, nothing else (no grouping, no op, no gzip; best of merge and hash join: {}; ratio = COPY / this)",
                join.1
            ),
            secs(join.0),
            format!("{} (COPY TO STDOUT)", secs(floor.1)),
        )
        .ratio(floor.1.as_secs_f64() / join.0.as_secs_f64()),
    );
    // The CPU a dump needs, against the two cores' time the goal allows.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = util::median(dump_cpu) + server_part.as_secs_f64();
    // COPY's best time, as the other references use: rounds the machine slowed are no measure
    // of what the goal allows.
    let copy = floor.1.as_secs_f64();
    section.rows.push(
        Row::new(
            format!(
                "reference: the CPU time of a dump of the inserted rows (the dumper's user and system time, median, plus the server's part: its query alone, COPY to /dev/null) over the machine's {cores} cores, against the wall time the goal allows (COPY's best of 2 / 0.6); ratio = allowed / this"
            ),
            format!("{} ({:.2} s of CPU)", secs(Duration::from_secs_f64(cpu / cores as f64)), cpu),
            format!("{} (allowed)", secs(Duration::from_secs_f64(copy / 0.6))),
        )
        .ratio(copy / 0.6 / (cpu / cores as f64)),
    );
    section.notes.push(breakdown);
}

/// The columns of a packet line after its rowid and op, as the floors select them from `t`.
fn line_columns() -> String {
    NARROW_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long the server takes to write the lines a cut of one statement reads (rowid, op, the
/// columns; the dumper adds the table id and the timestamp) of every row with no change log,
/// join or grouping, against the plain COPY: the most a dump of every row could achieve with
/// the packet format, before gzip. Best of 2.
fn format_floor(m: &mut postgres::Client) -> (Duration, Duration) {
    let shaped = format!(
        "COPY (SELECT t.id, 0, {} FROM artist t) TO STDOUT",
        line_columns()
    );
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        let start = Instant::now();
        util::copy_out(m, &shaped, None);
        best.0 = best.0.min(start.elapsed());
        let start = Instant::now();
        util::copy_out(m, &select_all(), None);
        best.1 = best.1.min(start.elapsed());
    }
    best
}

/// How long the server takes to write the same lines as [`format_floor`] for the rows the change
/// log's keys pick (every row here), joined and nothing else: no grouping of the keys, no
/// operation from the log, no gzip. The least a dump that publishes the logged rows pays on
/// this server, whatever its query. Best of 2 for each join the planner has (with the cut's
/// work_mem and jit off), and which one won.
fn join_floor(m: &mut postgres::Client) -> (Duration, &'static str) {
    let shaped = format!(
        "COPY (SELECT t.id, 0, {} FROM (SELECT unnest(l.k1) AS k FROM replgen.log_1 l) c \
         JOIN artist t ON t.id = c.k) TO STDOUT",
        line_columns()
    );
    let mut best = (Duration::MAX, "");
    for (join, off) in [
        ("merge join", "enable_hashjoin"),
        ("hash join", "enable_mergejoin"),
    ] {
        for _ in 0..2 {
            let mut tx = m.transaction().expect("begin");
            tx.batch_execute(&format!(
                "SET LOCAL work_mem = '87890kB'; SET LOCAL jit = off; SET LOCAL enable_nestloop = off; \
                 SET LOCAL {off} = off"
            ))
            .expect("settings");
            let start = Instant::now();
            let mut sink = std::io::sink();
            std::io::copy(&mut tx.copy_out(&shaped).expect("join"), &mut sink).expect("join");
            let took = start.elapsed();
            tx.rollback().expect("rollback");
            if took < best.0 {
                best = (took, join);
            }
        }
    }
    best
}

/// A packet's text compressed again at gzip levels 6 and 9: sizes.
fn recompress(packet: &std::path::Path) -> [u64; 2] {
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(packet).expect("packet"))
        .read_to_end(&mut text)
        .expect("gunzip");
    [6, 9].map(|level| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        gz.write_all(&text).expect("gzip");
        gz.finish().expect("gzip").len() as u64
    })
}

/// The COPY text of every row, and its size compressed by gzip level 6.
fn gzip_copy(m: &mut postgres::Client) -> (u64, Vec<u8>) {
    let mut text = Vec::new();
    m.copy_out(&select_all())
        .expect("copy out")
        .read_to_end(&mut text)
        .expect("copy out");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&text).expect("gzip");
    (gz.finish().expect("gzip").len() as u64, text)
}

/// Where a cut's time goes, measured separately in a rolled-back transaction with the cut's
/// planner settings: the dump query's COPY, and gzip of the table's COPY text in one thread.
fn dump_breakdown(m: &mut postgres::Client, text: Vec<u8>) -> (String, Duration) {
    let query = replgen_runtime::sql::dump_table(NarrowArtist::TABLE, true, false);
    let mut tx = m
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .expect("begin");
    tx.batch_execute(
        "SET LOCAL work_mem = '87890kB'; SET LOCAL jit = off; SET LOCAL enable_nestloop = off; \
         SET LOCAL enable_hashjoin = off",
    )
    .expect("settings");
    let start = Instant::now();
    let mut raw = Vec::new();
    tx.copy_out(&query)
        .expect("dump query")
        .read_to_end(&mut raw)
        .expect("dump query");
    let query_time = start.elapsed();
    let select = {
        let start = query.find("COPY (").expect("COPY (") + "COPY (".len();
        let end = query.rfind(") TO STDOUT").expect(") TO STDOUT");
        query[start..end].to_string()
    };
    // The server's part alone: the same query written to /dev/null by the server.
    let start = Instant::now();
    tx.batch_execute(&format!("COPY ({select}) TO '/dev/null'"))
        .expect("dump query to /dev/null");
    let server_part = start.elapsed();
    let plan: Vec<String> = tx
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {select}"), &[])
        .expect("explain")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    tx.rollback().expect("rollback");
    let mut gzip = Vec::new();
    for level in [1u32, 3] {
        let start = Instant::now();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        gz.write_all(&raw).expect("gzip");
        let n = gz.finish().expect("gzip").len();
        gzip.push(format!(
            "level {level} {} ({})",
            secs(start.elapsed()),
            mb(n as u64)
        ));
    }
    let note = format!(
        "Breakdown, inserted rows (round 1, separately, rolled back, the cut's settings for 1M keys of one statement: merge join, no grouping): dump query COPY {} \
         ({} of text; the table's COPY text is {}; the server alone, COPY to /dev/null, {}), gzip of it in one thread: {}. Its plan (EXPLAIN ANALYZE): \
         `{}`.",
        secs(query_time),
        mb(raw.len() as u64),
        mb(text.len() as u64),
        secs(server_part),
        gzip.join(", "),
        plan.iter()
            .map(|l| l.trim())
            .filter(|l| !l.starts_with("Buffers") && !l.starts_with("Planning"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    (note, server_part)
}

/// The floor of any capture built on transition tables: the same statement triggers as the
/// generated capture's, whose functions return at once, so only PostgreSQL's collecting of the
/// statement's old or new rows is paid.
const EMPTY_TRIGGERS: &str = "
CREATE TABLE empty_artist (LIKE artist INCLUDING ALL);
CREATE FUNCTION empty_capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER empty_insert AFTER INSERT ON empty_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION empty_capture();
CREATE TRIGGER empty_update AFTER UPDATE ON empty_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION empty_capture();
CREATE TRIGGER empty_delete AFTER DELETE ON empty_artist REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION empty_capture();
";

/// The floor of any capture that logs keys from transition tables: the capture's triggers (the
/// row-level key trigger on UPDATE included, which never fires here), whose functions read the
/// statement's keys and log nothing.
const KEY_READING_TRIGGERS: &str = "
CREATE TABLE keys_artist (LIKE artist INCLUDING ALL);
CREATE FUNCTION read_new_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM count(r.id) FROM n r; RETURN NULL; END $$;
CREATE FUNCTION read_old_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM count(r.id) FROM o r; RETURN NULL; END $$;
CREATE TRIGGER keys_insert AFTER INSERT ON keys_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION read_new_keys();
CREATE TRIGGER keys_update AFTER UPDATE ON keys_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION read_new_keys();
CREATE TRIGGER keys_key_update AFTER UPDATE ON keys_artist
    FOR EACH ROW WHEN ((OLD.id) IS DISTINCT FROM (NEW.id)) EXECUTE FUNCTION empty_capture();
CREATE TRIGGER keys_delete AFTER DELETE ON keys_artist REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION read_old_keys();
";

/// The floor of any capture that logs every key: the capture's triggers whose functions log the
/// statement's keys as one row of an index-free log shaped like the capture's (no one-row test,
/// no chunking, one statement). A capture must also bound its log rows, so it pays at least this.
const KEY_LOGGING_TRIGGERS: &str = "
CREATE TABLE logged_artist (LIKE artist INCLUDING ALL);
CREATE TABLE floor_log (ord bigint NOT NULL, ts timestamptz NOT NULL, k1 integer[] NOT NULL);
CREATE FUNCTION log_new_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO floor_log SELECT 0, clock_timestamp(), array_agg(r.id) FROM n r; RETURN NULL; END $$;
CREATE FUNCTION log_old_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO floor_log SELECT 0, clock_timestamp(), array_agg(r.id) FROM o r; RETURN NULL; END $$;
CREATE TRIGGER logged_insert AFTER INSERT ON logged_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION log_new_keys();
CREATE TRIGGER logged_update AFTER UPDATE ON logged_artist REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION log_new_keys();
CREATE TRIGGER logged_key_update AFTER UPDATE ON logged_artist
    FOR EACH ROW WHEN ((OLD.id) IS DISTINCT FROM (NEW.id)) EXECUTE FUNCTION empty_capture();
CREATE TRIGGER logged_delete AFTER DELETE ON logged_artist REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION log_old_keys();
";

fn capture_rows(opts: &Opts, section: &mut Section) {
    let rows = opts.rows();
    let cluster = util::cluster();
    let (_url, mut c) = shapes::narrow_database(&cluster, "capture", true);
    exec(
        &mut c,
        "CREATE TABLE plain_artist (LIKE artist INCLUDING ALL)",
    );
    exec(&mut c, EMPTY_TRIGGERS);
    exec(&mut c, KEY_READING_TRIGGERS);
    exec(&mut c, KEY_LOGGING_TRIGGERS);
    let tables = [
        "plain_artist",
        "artist",
        "empty_artist",
        "keys_artist",
        "logged_artist",
    ];
    // An autovacuum worker woken by the 1M inserted rows would bill whichever statement it
    // overlaps, in one arm and not the others: the timed statements run without.
    for t in tables.iter().chain(&["replgen.log_1", "floor_log"]) {
        exec(
            &mut c,
            &format!("ALTER TABLE {t} SET (autovacuum_enabled = false)"),
        );
    }
    let statements = |t: &str| {
        [
            shapes::insert_narrow(t, 1, rows),
            format!("UPDATE {t} SET edits_pending = edits_pending + 1"),
            format!("DELETE FROM {t}"),
        ]
    };
    // seconds[variant][statement]
    let mut seconds = vec![[Vec::new(), Vec::new(), Vec::new()]; tables.len()];
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            [0, 1, 2, 3, 4]
        } else {
            [4, 3, 2, 1, 0]
        };
        for v in order {
            let t = tables[v];
            exec(&mut c, &format!("TRUNCATE {t}"));
            exec(&mut c, "TRUNCATE replgen.log_1, floor_log");
            exec(&mut c, &format!("VACUUM ANALYZE {t}"));
            let ts: Vec<Duration> = statements(t).iter().map(|s| timed(&mut c, s)).collect();
            eprintln!(
                "  narrow capture round {} {t:>12}: insert {} update {} delete {}",
                round + 1,
                secs(ts[0]),
                secs(ts[1]),
                secs(ts[2])
            );
            for (i, d) in ts.iter().enumerate() {
                seconds[v][i].push(d.as_secs_f64());
            }
        }
    }
    let names = ["INSERT", "UPDATE", "DELETE"];
    let goals = [1.15, 1.15, 2.0];
    for (i, goal) in goals.into_iter().enumerate() {
        let with = util::median(seconds[1][i].clone());
        let without = util::median(seconds[0][i].clone());
        section.rows.push(
            Row::new(
                format!(
                    "capture, {} {} rows (with / no trigger)",
                    names[i],
                    rows_label(rows)
                ),
                format!("{with:.2} s"),
                format!("{without:.2} s (no trigger)"),
            )
            .ratio(with / without)
            .at_most(goal)
            .headline(),
        );
    }
    let references = [
        (
            2,
            "statement triggers that only collect the transition table (empty body)",
        ),
        (
            3,
            "the capture's triggers whose bodies only read the statement's keys (log nothing)",
        ),
        (
            4,
            "the capture's triggers whose bodies log the statement's keys as one row (nothing else)",
        ),
    ];
    for (v, what) in references {
        for (i, name) in names.iter().enumerate() {
            let with = util::median(seconds[v][i].clone());
            let without = util::median(seconds[0][i].clone());
            section.rows.push(
                Row::new(
                    format!("reference: {name} with {what}"),
                    format!("{with:.2} s"),
                    format!("{without:.2} s (no trigger)"),
                )
                .ratio(with / without),
            );
        }
    }
    let list = |v: usize, i: usize| {
        seconds[v][i]
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let per_round: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let arms: Vec<String> = [1, 0, 2, 3, 4].iter().map(|&v| list(v, i)).collect();
            format!("{name} {}", arms.join("; "))
        })
        .collect();
    section.notes.push(format!(
        "Capture per round, seconds (with capture; no trigger; empty-body triggers; key-reading triggers; key-logging triggers): {}.",
        per_round.join(". ")
    ));

    // Single-row OLTP on a durable server (every commit waits for its WAL flush).
    let clients = 4;
    let preload = if opts.quick { 20_000 } else { 100_000 };
    let duration = Duration::from_secs(if opts.quick { 3 } else { 15 });
    let durable = util::cluster_with(capture::DURABLE);
    let (_u, mut d) = shapes::narrow_database(&durable, "capture", true);
    exec(
        &mut d,
        "CREATE TABLE plain_artist (LIKE artist INCLUDING ALL)",
    );
    exec(&mut d, EMPTY_TRIGGERS);
    exec(&mut d, KEY_LOGGING_TRIGGERS);
    let tps = capture::oltp_arms(
        &durable,
        &mut d,
        "narrow durable",
        &["plain_artist", "artist", "empty_artist", "logged_artist"],
        clients,
        preload,
        duration,
        shapes::insert_narrow,
    );
    let (plain, captured, empty, logged) = (tps[0], tps[1], tps[2], tps[3]);
    section.rows.push(
        Row::new(
            format!(
                "single-row OLTP with capture, durable server, {clients} clients × {} s (TPS; ratio = with / without)",
                duration.as_secs()
            ),
            format!("{captured:.0} TPS"),
            format!("{plain:.0} TPS (no trigger)"),
        )
        .ratio(captured / plain)
        .at_least(0.95)
        .headline(),
    );
    section.rows.push(
        Row::new(
            format!(
                "reference: the same OLTP with statement triggers that only collect the transition table (empty body), {clients} clients × {} s",
                duration.as_secs()
            ),
            format!("{empty:.0} TPS"),
            format!("{plain:.0} TPS (no trigger)"),
        )
        .ratio(empty / plain),
    );
    section.rows.push(
        Row::new(
            format!(
                "reference: the same OLTP with triggers whose bodies log the statement's keys as one row (nothing else), {clients} clients × {} s",
                duration.as_secs()
            ),
            format!("{logged:.0} TPS"),
            format!("{plain:.0} TPS (no trigger)"),
        )
        .ratio(logged / plain),
    );
}

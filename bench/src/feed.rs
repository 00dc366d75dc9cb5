//! The mirror binary end to end: dump, apply, export and import against COPY and pg_dump, peak
//! memory, and replication lag under a steady write load.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use postgres::Client;
use replgen_runtime::packet::{Limits, Op, PacketReader};
use replgen_runtime::Replicated;
use replgen_testkit::{pg_program, Cluster};

use crate::codecs::Artist;
use crate::report::{Row, Section};
use crate::util::{self, exec, mb, mirror, rate, rows_label, secs, timed, Run};
use crate::Opts;

fn select_artists() -> String {
    format!(
        "COPY (SELECT {} FROM artist) TO STDOUT",
        util::ARTIST_COLUMNS
    )
}

fn dump_query() -> String {
    replgen_runtime::sql::dump_table(Artist::TABLE, true, false)
}

/// The SELECT inside the dump's `COPY (...) TO STDOUT`.
fn dump_select() -> String {
    let q = dump_query();
    let start = q.find("COPY (").expect("COPY (") + "COPY (".len();
    let end = q.rfind(") TO STDOUT").expect(") TO STDOUT");
    q[start..end].to_string()
}

fn explain(client: &mut Client, sql: &str) -> String {
    client
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), &[])
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

fn execution_ms(plan: &str) -> f64 {
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("Execution Time: "))
        .and_then(|v| v.trim_end_matches(" ms").parse().ok())
        .unwrap_or(f64::NAN)
}

fn dump_cmd(url: &str, dir: &Path) -> Command {
    mirror(&["dump", "--db", url, "--out", dir.to_str().unwrap()])
}

fn apply_cmd(url: &str, dir: &Path) -> Command {
    mirror(&["apply", "--db", url, "--from", dir.to_str().unwrap()])
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

/// Replica and master agree on the artist rows (a cheap check that what was timed worked).
fn same_artists(master: &mut Client, replica: &mut Client) {
    let digest = "SELECT count(*)::text || ' ' || coalesce(sum(hashtext(a::text)::bigint), 0)::text FROM artist a";
    let m: String = master.query_one(digest, &[]).expect("digest").get(0);
    let r: String = replica.query_one(digest, &[]).expect("digest").get(0);
    assert_eq!(
        m, r,
        "the replica's artist rows differ from the master's after apply"
    );
}

/// 2. `mirror dump` against COPY of the same rows.
pub fn dump(opts: &Opts) -> Section {
    let rows = opts.rows();
    let cluster = util::cluster();
    let (url, mut m) = util::database(&cluster, "master", true);
    let feed = tempfile::tempdir().expect("temp dir");
    let mut section = Section::new("2. Dump", "mirror dump", "COPY TO STDOUT");
    section.intro.push(format!(
        "`mirror dump` (the release binary, wall time of the whole process: connect, check, cut, gzip level 3, \
         sha256, fsync, publish, index) of {r} changed `artist` rows, against `COPY (SELECT <the 17 columns> FROM \
         artist) TO STDOUT` of the same rows read by a client and discarded. Ratio = COPY time / dump time \
         (dump throughput relative to COPY; higher is better). Before each measurement the table and its change \
         log are analyzed (autovacuum does this for a log that fills over minutes) and a CHECKPOINT is taken.",
        r = rows_label(rows)
    ));
    let passes = [
        ("inserted", util::insert_artists("artist", 1, rows)),
        (
            "updated (non-key column)",
            "UPDATE artist SET edits_pending = edits_pending + 1, name = name || ' (upd)'"
                .to_string(),
        ),
    ];
    for (label, sql) in passes {
        exec(&mut m, &sql);
        exec(
            &mut m,
            "VACUUM ANALYZE artist; ANALYZE replgen.log_1; CHECKPOINT",
        );
        let start = Instant::now();
        let copy_bytes = util::copy_out(&mut m, &select_artists(), None);
        let copy_time = start.elapsed();

        // Breakdown, in a transaction rolled back: the dump query, gzip, the log's DELETE.
        let (query_time, gzip_time, delete_time, raw) = {
            let mut tx = m
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .expect("begin");
            let start = Instant::now();
            let mut raw = Vec::with_capacity(copy_bytes as usize + (copy_bytes as usize / 4));
            tx.copy_out(&dump_query())
                .expect("dump query")
                .read_to_end(&mut raw)
                .expect("dump query");
            let query_time = start.elapsed();
            let start = Instant::now();
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 4),
                flate2::Compression::new(3),
            );
            gz.write_all(&raw).expect("gzip");
            let _ = gz.finish().expect("gzip");
            let gzip_time = start.elapsed();
            let start = Instant::now();
            tx.batch_execute("DELETE FROM replgen.log_1")
                .expect("delete log");
            let delete_time = start.elapsed();
            tx.rollback().expect("rollback");
            (query_time, gzip_time, delete_time, raw.len())
        };
        let plan = explain(&mut m, &dump_select());
        exec(&mut m, "CHECKPOINT");

        let before = util::packets(feed.path()).len();
        let run = util::run(&mut dump_cmd(&url, feed.path()), "mirror dump");
        let packets = util::packets(feed.path());
        assert_eq!(
            packets.len(),
            before + 1,
            "mirror dump published one packet"
        );
        let packet = packets.last().unwrap();
        let size = std::fs::metadata(packet).expect("packet").len();
        let text = util::gunzipped_size(packet);
        eprintln!(
            "  dump {label}: {} (COPY {}), {}",
            secs(run.elapsed),
            secs(copy_time),
            run.stdout.trim()
        );
        section.rows.push(
            Row::new(
                format!("{} {label} rows", rows_label(rows)),
                format!("{} ({})", secs(run.elapsed), rate(rows, run.elapsed)),
                format!("{} ({})", secs(copy_time), rate(rows, copy_time)),
            )
            .ratio(copy_time.as_secs_f64() / run.elapsed.as_secs_f64())
            .at_least(0.5),
        );
        section.rows.push(
            Row::new(
                format!("bytes per change, {label} (packet, gzip 3; baseline: COPY text)"),
                format!("{:.1} B", size as f64 / rows as f64),
                format!("{:.1} B", copy_bytes as f64 / rows as f64),
            )
            .ratio(size as f64 / copy_bytes as f64),
        );
        section.notes.push(format!(
            "{label}: packet {} ({} of text, compression ratio {:.2}:1); peak RSS {}. Breakdown of the same cut \
             (separately, in a rolled-back transaction): dump query COPY {} ({} bytes, plan execution {:.0} ms \
             under EXPLAIN ANALYZE), gzip level 3 of its output {} in one thread, `DELETE FROM replgen.log_1` {}; \
             the rest of the process's {} is sha256, writes, fsync, connect, and the index.",
            mb(size),
            mb(text),
            text as f64 / size as f64,
            mb(run.max_rss),
            secs(query_time),
            raw,
            execution_ms(&plan),
            secs(gzip_time),
            secs(delete_time),
            secs(run.elapsed),
        ));
        section
            .details
            .push((format!("dump query plan, {label} rows"), plan));
    }
    section
}

/// 3. `mirror apply` of insert-, update- and delete-heavy packets against COPY FROM.
pub fn apply(opts: &Opts) -> Section {
    let rows = opts.rows();
    let cluster = util::cluster();
    let (murl, mut m) = util::database(&cluster, "master", true);
    let (rurl, mut r) = util::database(&cluster, "replica", false);
    let (_curl, mut base) = util::database(&cluster, "baseline", false);
    let feed = tempfile::tempdir().expect("temp dir");
    let rows_file = feed.path().join("rows.copy");
    let mut section = Section::new("3. Apply", "mirror apply", "COPY FROM STDIN");
    section.intro.push(format!(
        "`mirror apply` (release binary, wall time: fetch and verify size and sha256, decode and check every value \
         through the typed codec, stage with COPY into a temporary table, ANALYZE it, `DELETE ... USING` the staged \
         keys, `INSERT ... SELECT` the new versions, record the position, commit; a long run of new rows goes \
         straight into the table with COPY instead of through the stage) of one {r}-row packet, against \
         `COPY artist FROM STDIN` of the same {r} rows (full rows, also for the delete packet) into an empty table \
         with the same primary key and unique index. Ratio = COPY time / apply time (higher is better). The replica \
         is checked against the master after each packet.",
        r = rows_label(rows)
    ));
    // Goals: issue #16's for the first two (its headline figures), round one's for deletes.
    let scenarios = [
        (
            "insert-heavy (new rows)",
            Some(util::insert_artists("artist", 1, rows)),
            0.8,
        ),
        (
            "update-heavy (every row, non-key columns)",
            Some(
                "UPDATE artist SET edits_pending = edits_pending + 1, name = name || ' (upd)'"
                    .to_string(),
            ),
            0.6,
        ),
        ("delete-heavy (every row)", None, 0.5),
    ];
    for (label, sql, goal) in scenarios {
        match &sql {
            Some(sql) => {
                exec(&mut m, sql);
                util::copy_out(&mut m, &select_artists(), Some(&rows_file));
            }
            None => exec(&mut m, "DELETE FROM artist"),
        }
        let dump = util::run(&mut dump_cmd(&murl, feed.path()), "mirror dump");
        let packet = util::packets(feed.path())
            .last()
            .cloned()
            .expect("a packet");
        let breakdown = if label.starts_with("update") {
            Some(apply_breakdown(&mut r, &packet))
        } else {
            None
        };
        exec(&mut r, "CHECKPOINT");
        let run = util::run(&mut apply_cmd(&rurl, feed.path()), "mirror apply");
        same_artists(&mut m, &mut r);
        exec(&mut base, "TRUNCATE artist");
        exec(&mut base, "CHECKPOINT");
        let start = Instant::now();
        util::copy_in(
            &mut base,
            &format!("COPY artist ({}) FROM STDIN", util::ARTIST_COLUMNS),
            &rows_file,
        );
        let copy_time = start.elapsed();
        eprintln!(
            "  apply {label}: {} (COPY {}), {}",
            secs(run.elapsed),
            secs(copy_time),
            run.stdout.trim()
        );
        let row = Row::new(
            format!("{} rows, {label}", rows_label(rows)),
            format!("{} ({})", secs(run.elapsed), rate(rows, run.elapsed)),
            format!("{} ({})", secs(copy_time), rate(rows, copy_time)),
        )
        .ratio(copy_time.as_secs_f64() / run.elapsed.as_secs_f64())
        .at_least(goal);
        section.rows.push(match sql {
            Some(_) => row.headline(),
            None => row,
        });
        section.notes.push(format!(
            "{label}: packet {}, dump {}, apply peak RSS {}.",
            mb(std::fs::metadata(&packet).map(|m| m.len()).unwrap_or(0)),
            secs(dump.elapsed),
            mb(run.max_rss)
        ));
        if let Some((text, plans, server)) = breakdown {
            section.notes.push(text);
            section
                .details
                .push(("apply statements' plans, update-heavy packet".into(), plans));
            section.rows.push(
                Row::new(
                    "reference: the update-heavy apply's statements alone (the breakdown's staging COPY, ANALYZE, DELETE and INSERT, the server's time; no client work)",
                    secs(server),
                    format!("{} (COPY FROM STDIN)", secs(copy_time)),
                )
                .ratio(copy_time.as_secs_f64() / server.as_secs_f64()),
            );
            // The same change made by the server itself, on the baseline's freshly copied rows
            // (the same indexes): no packet, no stage, no join.
            exec(&mut base, "VACUUM ANALYZE artist");
            exec(&mut base, "CHECKPOINT");
            let start = Instant::now();
            exec(&mut base, sql.as_deref().expect("an update"));
            let update = start.elapsed();
            section.rows.push(
                Row::new(
                    "reference: the master's own UPDATE of every row (the same statement on the baseline's rows, same indexes; no packet, no stage)",
                    secs(update),
                    format!("{} (COPY FROM STDIN)", secs(copy_time)),
                )
                .ratio(copy_time.as_secs_f64() / update.as_secs_f64()),
            );
        }
        exec(&mut r, "VACUUM ANALYZE artist");
    }
    section
}

/// The apply of `packet` step by step, as the runtime does it, in a transaction rolled back.
/// Also the server's time for the statements (the staging COPY and the merge).
fn apply_breakdown(replica: &mut Client, packet: &Path) -> (String, String, Duration) {
    let table = Artist::TABLE;
    // In-process: gunzip, parse, check every value, build the staging text (as apply does).
    let start = Instant::now();
    let file = std::fs::File::open(packet).expect("packet");
    let gz = std::io::BufReader::with_capacity(1 << 20, MultiGzDecoder::new(BufReader::new(file)));
    let mut reader = PacketReader::new(gz, Limits::default()).expect("packet header");
    let mut staged = Vec::new();
    let mut lines = 0u64;
    loop {
        let mut fields = Vec::new();
        let Some(line) = reader.next_line(&mut fields).expect("packet line") else {
            break;
        };
        lines += 1;
        (table.check_row)(line.values).expect("check_row");
        staged.extend_from_slice(b"0\t");
        staged.push(b'0' + line.op as u8);
        assert!(line.op != Op::Remove);
        for v in line.values {
            staged.push(b'\t');
            staged.extend_from_slice(v);
        }
        staged.push(b'\n');
    }
    let parse = start.elapsed();

    let mut tx = replica.transaction().expect("begin");
    replgen_runtime::replica::prepare_stage(&mut tx, table).expect("stage");
    let start = Instant::now();
    {
        let mut w = tx
            .copy_in(&replgen_runtime::sql::for_table("stage_copy", table))
            .expect("stage copy");
        w.write_all(&staged).expect("stage copy");
        w.finish().expect("stage copy");
    }
    let stage = start.elapsed();
    let merge = replgen_runtime::sql::merge(
        table,
        replgen_runtime::sql::Merge {
            analyze: true,
            skip_new_keys: true,
            ..Default::default()
        },
    );
    let statements: Vec<&str> = merge
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut plans = String::new();
    let mut parts = Vec::new();
    let mut server = stage;
    for stmt in statements {
        let stmt = stmt.trim_end_matches(';');
        let start = Instant::now();
        let text = if stmt.starts_with("ANALYZE") {
            tx.batch_execute(stmt).expect("analyze stage");
            String::new()
        } else {
            let q = format!("EXPLAIN (ANALYZE, BUFFERS) {stmt}");
            tx.query(&q, &[])
                .unwrap_or_else(|e| panic!("{q}: {e}"))
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let took = start.elapsed();
        server += took;
        let verb = stmt.split_whitespace().next().unwrap_or("?").to_string();
        parts.push(format!("{verb} {}", secs(took)));
        if !text.is_empty() {
            plans.push_str(&format!("{stmt}\n{text}\n\n"));
        }
    }
    tx.rollback().expect("rollback");
    let text = format!(
        "Breakdown of the update-heavy packet ({lines} lines), step by step as apply runs it, in a rolled-back \
         transaction: gunzip + parse + check every value + build the staging text {} (one thread, in the client); \
         staging COPY {}; then {} (DELETE and INSERT timed under EXPLAIN ANALYZE, plans below).",
        secs(parse),
        secs(stage),
        parts.join(", ")
    );
    (text, plans, server)
}

/// 4. `mirror export` against `pg_dump --data-only`, `mirror import` against restoring it.
pub fn export_import(opts: &Opts) -> Section {
    let rows = opts.rows();
    let cluster = util::cluster();
    let (murl, mut m) = util::database(&cluster, "master", true);
    let feed = tempfile::tempdir().expect("temp dir");
    let work = tempfile::tempdir().expect("temp dir");
    exec(&mut m, &util::insert_artists("artist", 1, rows));
    // Empty the change log first, so the export's own cut is not what is measured.
    util::run(&mut dump_cmd(&murl, feed.path()), "mirror dump");
    exec(&mut m, "VACUUM ANALYZE artist");
    let tables: Vec<String> = m
        .query(
            "SELECT schema_name, table_name FROM replgen.registry ORDER BY table_id",
            &[],
        )
        .expect("registry")
        .iter()
        .map(|r| format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    let pg_dump = |args: &[&str], file: &Path| -> Run {
        let mut cmd = Command::new(pg_program("pg_dump"));
        cmd.args([
            "--data-only",
            "--no-owner",
            "-d",
            &murl,
            "-f",
            file.to_str().unwrap(),
        ])
        .args(args);
        for t in &tables {
            cmd.args(["-t", t]);
        }
        exec(&mut m_checkpoint(&cluster), "CHECKPOINT");
        util::run(&mut cmd, "pg_dump")
    };
    exec(&mut m, "CHECKPOINT");
    let export = util::run(
        &mut mirror(&[
            "export",
            "--db",
            &murl,
            "--out",
            feed.path().to_str().unwrap(),
        ]),
        "mirror export",
    );
    let export_bytes = dir_size(&feed.path().join("exports"));
    let plain_file = work.path().join("dump.sql");
    let dump_plain = pg_dump(&[], &plain_file);
    let gz_file = work.path().join("dump.sql.gz");
    let dump_gz = pg_dump(&["-Z", "3"], &gz_file);
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);

    let (iurl, mut imp) = util::database(&cluster, "imported", false);
    let (purl, mut restored) = util::database(&cluster, "restored", false);
    exec(&mut imp, "CHECKPOINT");
    let import = util::run(
        &mut mirror(&[
            "import",
            "--db",
            &iurl,
            "--from",
            feed.path().to_str().unwrap(),
        ]),
        "mirror import",
    );
    exec(&mut restored, "CHECKPOINT");
    let restore = util::run(
        Command::new(pg_program("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &purl, "-f"])
            .arg(&plain_file),
        "psql restore",
    );
    let analyze = timed(&mut restored, "ANALYZE artist");
    same_artists(&mut m, &mut imp);
    same_artists(&mut m, &mut restored);
    eprintln!(
        "  export {} pg_dump {} (-Z3 {}); import {} psql {}",
        secs(export.elapsed),
        secs(dump_plain.elapsed),
        secs(dump_gz.elapsed),
        secs(import.elapsed),
        secs(restore.elapsed)
    );

    let mut section = Section::new("4. Export and import", "mirror", "pg_dump / psql");
    section.intro.push(format!(
        "All 15 replicated tables, `artist` holding {r} rows (the others empty). `mirror export` (one snapshot, \
         gzip level 3 per table, sha256, fsync, manifest, index) against `pg_dump --data-only -t <each table>` to a \
         plain SQL file; `mirror import` (verify, decode and check every value, COPY, ANALYZE every table, record \
         the position, one transaction) into empty tables against `psql -f` of that file into empty tables with \
         the same indexes. Ratio = baseline time / mirror time (higher is better).",
        r = rows_label(rows)
    ));
    section.rows.push(
        Row::new(
            "export vs pg_dump --data-only (plain)",
            format!("{} ({})", secs(export.elapsed), mb(export_bytes)),
            format!("{} ({})", secs(dump_plain.elapsed), mb(size(&plain_file))),
        )
        .ratio(dump_plain.elapsed.as_secs_f64() / export.elapsed.as_secs_f64())
        .at_least(0.7),
    );
    section.rows.push(
        Row::new(
            "reference: export vs pg_dump --data-only -Z 3 (same compression)",
            format!("{} ({})", secs(export.elapsed), mb(export_bytes)),
            format!("{} ({})", secs(dump_gz.elapsed), mb(size(&gz_file))),
        )
        .ratio(dump_gz.elapsed.as_secs_f64() / export.elapsed.as_secs_f64()),
    );
    section.rows.push(
        Row::new(
            "import vs psql -f (restore of the plain dump)",
            format!("{} ({})", secs(import.elapsed), rate(rows, import.elapsed)),
            format!(
                "{} ({})",
                secs(restore.elapsed),
                rate(rows, restore.elapsed)
            ),
        )
        .ratio(restore.elapsed.as_secs_f64() / import.elapsed.as_secs_f64())
        .at_least(0.7),
    );
    section.notes.push(format!(
        "Peak RSS: export {}, import {}. `mirror import` also runs ANALYZE on every table in its transaction \
         (so the replica is usable at once); `ANALYZE artist` alone takes {} after the psql restore.",
        mb(export.max_rss),
        mb(import.max_rss),
        secs(analyze)
    ));
    section
}

fn m_checkpoint(cluster: &Cluster) -> Client {
    cluster.connect("postgres")
}

/// 5. Peak RSS of dump and apply for a small and a big packet.
pub fn memory(opts: &Opts) -> Section {
    let small: u64 = if opts.quick { 2_000 } else { 10_000 };
    let big = opts.rows();
    let cluster = util::cluster();
    let (murl, mut m) = util::database(&cluster, "master", true);
    let (rurl, mut r) = util::database(&cluster, "replica", false);
    let feed = tempfile::tempdir().expect("temp dir");
    let mut rss = Vec::new();
    for (from, n) in [(1, small), (small + 1, big)] {
        exec(&mut m, &util::insert_artists("artist", from, from + n - 1));
        let d = util::run(&mut dump_cmd(&murl, feed.path()), "mirror dump");
        let a = util::run(&mut apply_cmd(&rurl, feed.path()), "mirror apply");
        same_artists(&mut m, &mut r);
        eprintln!("  {n} rows: dump {} apply {}", mb(d.max_rss), mb(a.max_rss));
        rss.push((d.max_rss, a.max_rss));
    }
    let (eurl, _e) = util::database(&cluster, "imported", false);
    let export = util::run(
        &mut mirror(&[
            "export",
            "--db",
            &murl,
            "--out",
            feed.path().to_str().unwrap(),
        ]),
        "mirror export",
    );
    let import = util::run(
        &mut mirror(&[
            "import",
            "--db",
            &eurl,
            "--from",
            feed.path().to_str().unwrap(),
        ]),
        "mirror import",
    );

    let mut section = Section::new(
        "5. Memory",
        &format!("{} rows", rows_label(big)),
        &format!("{} rows", rows_label(small)),
    );
    section.intro.push(format!(
        "Peak resident set size of the `mirror` process (its own `ru_maxrss` from `wait4`), for a {s}-row and a \
         {b}-row packet of `artist` inserts. Ratio = big / small. Goal: at most 100 MB and flat (the big packet \
         at most 2× the small one), i.e. streaming, no buffer that grows with the packet.",
        s = rows_label(small),
        b = rows_label(big)
    ));
    let limit = 100_000_000;
    for (what, small_rss, big_rss) in [
        ("mirror dump", rss[0].0, rss[1].0),
        ("mirror apply", rss[0].1, rss[1].1),
    ] {
        let ratio = big_rss as f64 / small_rss as f64;
        section.rows.push(
            Row::new(what, mb(big_rss), mb(small_rss))
                .ratio(ratio)
                .goal("≤ 100 MB, ≤ 2×", big_rss <= limit && ratio <= 2.0)
                .headline(),
        );
    }
    let total = small + big;
    section.rows.push(
        Row::new(
            format!("mirror export ({} rows)", rows_label(total)),
            mb(export.max_rss),
            "—",
        )
        .goal("≤ 100 MB", export.max_rss <= limit),
    );
    section.rows.push(
        Row::new(
            format!("mirror import ({} rows)", rows_label(total)),
            mb(import.max_rss),
            "—",
        )
        .goal("≤ 100 MB", import.max_rss <= limit),
    );
    section
}

/// 6. Commit-to-visibility lag with `dump --every 1s` and `apply --follow --interval 200ms`.
pub fn lag(opts: &Opts) -> Section {
    let seconds = if opts.quick { 8 } else { 60 };
    let per_second = 50u32;
    let cluster = util::cluster();
    let (murl, _m) = util::database(&cluster, "master", true);
    let (rurl, mut r) = util::database(&cluster, "replica", false);
    let feed = tempfile::tempdir().expect("temp dir");
    let logs = tempfile::tempdir().expect("temp dir");
    let spawn = |args: &[&str], name: &str| {
        let out = std::fs::File::create(logs.path().join(format!("{name}.out"))).expect("log");
        let err = std::fs::File::create(logs.path().join(format!("{name}.err"))).expect("log");
        mirror(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start mirror {name}: {e}"))
    };
    let fd = feed.path().to_str().unwrap();
    let dumper = spawn(
        &["dump", "--db", &murl, "--out", fd, "--every", "1s"],
        "dump",
    );
    std::thread::sleep(Duration::from_millis(500));
    let applier = spawn(
        &[
            "apply",
            "--db",
            &rurl,
            "--from",
            fd,
            "--follow",
            "--interval",
            "200ms",
        ],
        "apply",
    );

    let commits: Arc<Mutex<Vec<(i32, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (commits, stop, url) = (Arc::clone(&commits), Arc::clone(&stop), murl.clone());
        std::thread::spawn(move || {
            let mut c = Client::connect(&url, postgres::NoTls).expect("connect");
            let ins = c
                .prepare(
                    "INSERT INTO artist (id, gid, name, sort_name, comment, edits_pending, last_updated) \
                     VALUES ($1::integer, gen_random_uuid(), 'Lag ' || $1::integer, 'Lag, ' || $1::integer, '', 0, now())",
                )
                .expect("prepare");
            let period = Duration::from_secs(1) / per_second;
            let mut next = Instant::now();
            let mut id = 0i32;
            while !stop.load(Ordering::SeqCst) {
                id += 1;
                c.execute(&ins, &[&id]).expect("insert");
                commits.lock().unwrap().push((id, Instant::now()));
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        })
    };
    let poll = r
        .prepare("SELECT coalesce(max(id), 0) FROM artist")
        .expect("prepare");
    let mut lags = Vec::new();
    let mut seen = 0usize;
    let started = Instant::now();
    let mut stopped_at: Option<Instant> = None;
    loop {
        let visible: i32 = r.query_one(&poll, &[]).expect("poll").get(0);
        let now = Instant::now();
        {
            let commits = commits.lock().unwrap();
            while seen < commits.len() && commits[seen].0 <= visible {
                lags.push((now - commits[seen].1).as_secs_f64());
                seen += 1;
            }
            if stopped_at.is_some() && seen == commits.len() {
                break;
            }
        }
        if stopped_at.is_none() && started.elapsed() >= Duration::from_secs(seconds) {
            stop.store(true, Ordering::SeqCst);
            stopped_at = Some(Instant::now());
        }
        if stopped_at.is_some_and(|t| t.elapsed() > Duration::from_secs(30)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().expect("writer");
    let committed = commits.lock().unwrap().len();
    for child in [&dumper, &applier] {
        util::terminate(child.id());
    }
    for (child, name) in [(dumper, "dump"), (applier, "apply")] {
        let (status, _) = util::wait_child(child.id());
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let err = std::fs::read_to_string(logs.path().join(format!("{name}.err")))
                .unwrap_or_default();
            panic!("mirror {name} failed (wait status {status}):\n{err}");
        }
    }
    assert_eq!(
        seen, committed,
        "every committed row reached the replica within 30 s of the load stopping"
    );
    let packets = util::packets(feed.path()).len();
    lags.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99, max) = (
        util::percentile(&lags, 0.5),
        util::percentile(&lags, 0.99),
        util::percentile(&lags, 1.0),
    );
    eprintln!("  lag: {committed} commits, {packets} packets, p50 {p50:.2} s p99 {p99:.2} s max {max:.2} s");

    let floor = 1.2;
    let mut section = Section::new("6. Lag", "measured", "schedule");
    section.intro.push(format!(
        "`mirror dump --every 1s` on the master and `mirror apply --follow --interval 200ms` on a replica (both \
         release binaries, feed in a local folder) while one client commits {per_second} single-row INSERTs per \
         second for {seconds} s. Lag = from the moment the INSERT's commit returned on the master to the moment a \
         poll of the replica (every 10 ms) first sees the row. The baseline is the schedule alone: a change can \
         wait up to 1 s for the next cut and 0.2 s for the next poll (ratio = measured / 1.2 s)."
    ));
    section
        .rows
        .push(Row::new("p50 lag", format!("{p50:.2} s"), "0.60 s (mean wait)").ratio(p50 / 0.6));
    section.rows.push(
        Row::new(
            "p99 lag",
            format!("{p99:.2} s"),
            format!("{floor:.2} s (worst wait)"),
        )
        .ratio(p99 / floor)
        .goal("≤ 2 s", p99 <= 2.0)
        .headline(),
    );
    section.rows.push(
        Row::new("max lag", format!("{max:.2} s"), format!("{floor:.2} s")).ratio(max / floor),
    );
    section.notes.push(format!(
        "{committed} rows committed, {packets} packets cut. `--every` sleeps 1 s after each cut ends, so the cut's \
         own time adds to the period."
    ));
    section
}

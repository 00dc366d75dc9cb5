//! End to end through the contract: install capture, write, dump, apply, compare tables.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{packet_lines, Env, Workload};

/// Replays the ops of every listed packet over an empty key space: an ADD of a key that exists,
/// or an UPDATE/REMOVE of one that does not, means a change was duplicated or lost.
fn assert_ops_consistent(env: &Env) -> usize {
    let mut exists: HashMap<(String, String), bool> = HashMap::new();
    let mut seen_in_packet: HashMap<(u64, String, String), ()> = HashMap::new();
    let lines = packet_lines(env.feed.path());
    for (serial, line) in &lines {
        let f: Vec<&str> = line.split('\t').collect();
        let key = (f[0].to_string(), f[1].to_string());
        assert!(
            seen_in_packet
                .insert((*serial, key.0.clone(), key.1.clone()), ())
                .is_none(),
            "packet {serial} has two lines for table {} row {}",
            key.0,
            key.1
        );
        let was = exists.get(&key).copied().unwrap_or(false);
        match f[3] {
            "0" => assert!(
                !was,
                "packet {serial}: ADD of table {} row {} that already exists",
                key.0, key.1
            ),
            "1" => assert!(
                was,
                "packet {serial}: UPDATE of table {} row {} that does not exist",
                key.0, key.1
            ),
            "2" => assert!(
                was,
                "packet {serial}: REMOVE of table {} row {} that does not exist",
                key.0, key.1
            ),
            op => panic!("bad op {op}"),
        }
        exists.insert(key, f[3] != "2");
    }
    lines.len()
}

#[test]
fn writes_dump_and_apply_to_an_identical_replica() {
    let env = Env::new("basic");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 1, 0);
    work.run(&mut master, 300, false);
    let out = env.dump();
    assert!(out.starts_with("packet 1: "), "{out}");
    env.apply();
    env.assert_identical();
    // Nothing changed: no packet.
    assert_eq!(env.dump(), "");
    work.run(&mut master, 300, true);
    env.dump();
    let out = env.apply();
    assert!(out.contains("applied packets 2..=2"), "{out}");
    let (tables, rows) = env.assert_identical();
    assert!(tables >= 10 && rows > 50, "{tables} tables, {rows} rows");
    assert!(assert_ops_consistent(&env) > 0);
    // A second apply has nothing to do.
    assert!(env.apply().contains("up to date at packet 2"));
}

#[test]
fn a_transaction_open_across_a_cut_lands_in_the_next_packet_exactly_once() {
    let env = Env::new("open_tx");
    let first = env.schema.tables[0].clone();
    let second = env.schema.tables[1].clone();
    let mut master = env.connect_master();
    let mut late = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 2, 0);
    // The late transaction writes first but commits after the cut.
    let insert_late = insert_statement(&mut work, &first);
    late.batch_execute(&format!("BEGIN; {insert_late};"))
        .unwrap();
    master
        .batch_execute(&insert_statement(&mut work, &second))
        .unwrap();
    env.dump();
    late.batch_execute("COMMIT").unwrap();
    env.dump();
    let lines = packet_lines(env.feed.path());
    let of = |serial: u64, id: u32| {
        lines
            .iter()
            .filter(|(s, l)| *s == serial && l.starts_with(&format!("{id}\t")))
            .count()
    };
    let late_rows: i64 = master
        .query_one(
            &format!(
                "SELECT count(*) FROM {}",
                common::workload::qualified(&first)
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        of(1, first.id),
        0,
        "the uncommitted insert leaked into packet 1"
    );
    assert!(of(1, second.id) >= 1);
    assert_eq!(
        of(2, first.id) as i64,
        late_rows,
        "the late commit is missing from packet 2"
    );
    assert_eq!(of(2, second.id), 0, "packet 1's rows were dumped again");
    env.apply();
    env.assert_identical();
}

fn insert_statement(work: &mut Workload, table: &replgen_schema::Table) -> String {
    loop {
        let s = work.statement(false);
        if s.starts_with(&format!(
            "INSERT INTO {}",
            common::workload::qualified(table)
        )) {
            return s;
        }
    }
}

#[test]
fn concurrent_writers_and_random_cuts_lose_and_duplicate_nothing() {
    let env = Env::new("concurrent");
    let writers = common::Writers::start(&env, 4, 100);
    let mut rng = common::workload::Rng::new(7);
    // At least 10 cuts at random instants, and on until the writers have committed a fixed
    // amount of work (however fast this machine writes).
    let deadline = Instant::now() + common::HANG_GUARD;
    let mut cuts = 0;
    while cuts < 10 || writers.committed() < 400 {
        std::thread::sleep(Duration::from_millis(50 + rng.below(300)));
        env.dump();
        cuts += 1;
        assert!(
            Instant::now() < deadline,
            "the writers committed only {} transactions in {:?}",
            writers.committed(),
            common::HANG_GUARD
        );
    }
    writers.stop();
    env.dump();
    env.apply();
    env.assert_identical();
    assert!(assert_ops_consistent(&env) > 100);
}

#[test]
fn dump_every_and_apply_follow_keep_a_replica_current_and_stop_cleanly_on_sigterm() {
    let env = Env::new("follow");
    let mut dumper = common::Child::spawn(
        Command::new(common::mirror_bin())
            .args([
                "dump",
                "--db",
                &env.master,
                "--out",
                env.feed(),
                "--every",
                "1s",
            ])
            .stdout(Stdio::null()),
    );
    let mut applier = common::Child::spawn(
        Command::new(common::mirror_bin())
            .args([
                "apply",
                "--db",
                &env.replica,
                "--from",
                env.feed(),
                "--follow",
                "--interval",
                "200ms",
            ])
            .stdout(Stdio::null()),
    );
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 3, 0);
    // 0 until the dumper has created its state tables and cut its first packet.
    let newest = |master: &mut postgres::Client| -> i64 {
        let created: bool = master
            .query_one("SELECT to_regclass('replgen.cuts') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        if !created {
            return 0;
        }
        master
            .query_one("SELECT coalesce(max(serial), 0) FROM replgen.cuts", &[])
            .unwrap()
            .get(0)
    };
    let replica_serial = || env.replica_position().unwrap_or(0);
    // Writes go on until the dumper has cut three packets of them and the applier has followed
    // two, however long that takes on this machine.
    let deadline = Instant::now() + common::HANG_GUARD;
    while newest(&mut master) < 3 || replica_serial() < 2 {
        work.run(&mut master, 10, true);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            Instant::now() < deadline,
            "no follow after {:?}: {} packets cut, replica at {}",
            common::HANG_GUARD,
            newest(&mut master),
            replica_serial()
        );
    }
    // Then the dumper cuts the last writes and the replica catches up.
    // In this order: once nothing is pending, every write is in a packet up to the newest cut
    // read after that (a cut commits its packet and deletes its log rows at once).
    common::wait_until("the replica has caught up with every write", || {
        env.pending_changes() == 0 && replica_serial() == newest(&mut master)
    });
    for child in [&mut dumper, &mut applier] {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "a SIGTERM should stop it cleanly, got {status}"
        );
    }
    env.assert_identical();
}

#[test]
fn applies_over_http_with_retries() {
    let env = Env::new("http");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 4, 0);
    for _ in 0..3 {
        work.run(&mut master, 100, true);
        env.dump();
    }
    let server = common::http::serve(env.feed.path().to_path_buf());
    server
        .failures_left
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let out = env.mirror_ok(&["apply", "--db", &env.replica, "--from", &server.base]);
    assert!(out.contains("applied packets 1..=3"), "{out}");
    env.assert_identical();
    let status = env.mirror_ok(&[
        "status",
        "--db",
        &env.replica,
        "--from",
        &server.base,
        "--json",
    ]);
    assert!(
        status.contains("\"serial\":3") && status.contains("\"packets_behind\":0"),
        "{status}"
    );
}

#[test]
fn a_second_dumper_is_refused_with_a_clear_message() {
    let env = Env::new("two_dumpers");
    env.connect_master()
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) \
             VALUES (1, '10000000-0000-4000-a000-000000000001', 'One', 'One')",
        )
        .unwrap();
    let mut first = common::Child::spawn(
        Command::new(common::mirror_bin())
            .args([
                "dump",
                "--db",
                &env.master,
                "--out",
                env.feed(),
                "--every",
                "1h",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // The first dumper holds the dumper lock from before its first cut until it stops.
    common::wait_until("the first dumper has published packet 1", || {
        std::fs::read_to_string(env.feed.path().join("index.xml"))
            .is_ok_and(|xml| xml.contains("<packet serial=\"1\""))
    });
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(err.contains("another dumper is running"), "{err}");
    Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_packet_that_swaps_a_unique_value_between_two_rows_applies_cleanly() {
    let env = Env::new("swap");
    let mut master = env.connect_master();
    master
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) VALUES \
             (1, '10000000-0000-4000-a000-000000000001', 'One', 'One'), \
             (2, '10000000-0000-4000-a000-000000000002', 'Two', 'Two')",
        )
        .unwrap();
    env.dump();
    env.apply();
    // The unique index on gid is not deferrable, so the master swaps through a placeholder;
    // the packet carries only the two final rows, which a row-by-row apply could not insert.
    master
        .batch_execute(
            "BEGIN; \
             UPDATE artist SET gid = '99999999-0000-4000-a000-000000000000' WHERE id = 1; \
             UPDATE artist SET gid = '10000000-0000-4000-a000-000000000001' WHERE id = 2; \
             UPDATE artist SET gid = '10000000-0000-4000-a000-000000000002' WHERE id = 1; \
             COMMIT",
        )
        .unwrap();
    env.dump();
    let lines: Vec<String> = packet_lines(env.feed.path())
        .into_iter()
        .filter(|(s, _)| *s == 2)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.split('\t').nth(3) == Some("1")),
        "{lines:?}"
    );
    env.apply();
    env.assert_identical();
}

/// Each of `packet`'s data lines' rowid (field 2), for table 1.
fn artist_rowids(lines: &[(u64, String)], serial: u64) -> Vec<String> {
    lines
        .iter()
        .filter(|(s, l)| *s == serial && l.starts_with("1\t"))
        .map(|(_, l)| l.split('\t').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn cuts_of_one_large_statement_each_carry_every_key_once_in_a_multi_member_packet() {
    let env = Env::new("one_statement");
    let mut master = env.connect_master();
    // One statement per cut, 30k keys: the cut proves them distinct (one trigger call) and skips
    // grouping them, merges them with the table along its analyzed, in-order key, and the packet
    // text (several MiB) is written as several gzip members.
    let statements = [
        "INSERT INTO artist (id, gid, name, sort_name, comment, edits_pending) \
         SELECT g, md5(g::text)::uuid, 'Artist ' || g, 'Artist, ' || g, repeat('x', g % 97), 0 \
         FROM generate_series(1, 30000) g",
        "UPDATE artist SET edits_pending = edits_pending + 1, name = name || ' (upd)'",
        "DELETE FROM artist WHERE id % 2 = 0",
    ];
    for (i, sql) in statements.iter().enumerate() {
        let serial = i as u64 + 1;
        master.batch_execute(sql).unwrap();
        master.batch_execute("ANALYZE artist").unwrap();
        assert!(env.dump().starts_with(&format!("packet {serial}: ")));
        env.apply();
        env.assert_identical();
        let lines = packet_lines(env.feed.path());
        let changed = if i == 2 { 15000 } else { 30000 };
        let mut rowids = artist_rowids(&lines, serial);
        assert_eq!(
            rowids.len(),
            changed,
            "packet {serial}: one line per changed key"
        );
        rowids.sort();
        rowids.dedup();
        assert_eq!(rowids.len(), changed, "packet {serial} carries a key twice");
        if i == 2 {
            let removes = lines
                .iter()
                .filter(|(s, l)| {
                    *s == serial && l.starts_with("1\t") && l.split('\t').nth(3) == Some("2")
                })
                .count();
            assert_eq!(removes, 15000, "the deleted half comes as REMOVE lines");
        }
        // Any gzip reader gets the whole text: gzip -dc as flate2's MultiGzDecoder; a
        // single-member reader stops early, so the file has several members.
        let path = common::feed::packet_file(env.feed.path(), serial);
        let bytes = std::fs::read(&path).unwrap();
        let mut multi = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
            &mut multi,
        )
        .unwrap();
        let zcat = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
        assert!(zcat.status.success());
        assert_eq!(
            zcat.stdout, multi,
            "gzip -dc reads packet {serial} differently"
        );
        let mut first = Vec::new();
        let _ =
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut first);
        if i < 2 {
            assert!(
                first.len() < multi.len(),
                "packet {serial} is one gzip member"
            );
        }
    }
}

/// Each key's newest logged timestamp, as the server formats it, read before the cut.
fn logged_timestamps(master: &mut postgres::Client) -> HashMap<String, String> {
    master
        .query(
            "SELECT u.k::text, max(l.ts)::text FROM replgen.log_1 l, unnest(l.k1) u(k) GROUP BY u.k",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn every_line_carries_its_change_timestamp_whether_the_cut_or_the_server_writes_it() {
    let env = Env::new("timestamps");
    let mut master = env.connect_master();
    // Cut 1: one statement, one timestamp (the dumper writes it into every line). Cut 2: four
    // transactions, each with its own timestamp (the dump query formats each line's), updating,
    // deleting and re-adding keys so that some keys have several log entries.
    let cuts: [&[&str]; 2] = [
        &["INSERT INTO artist (id, gid, name, sort_name) \
           SELECT g, md5(g::text)::uuid, 'A ' || g, 'A, ' || g FROM generate_series(1, 500) g"],
        &[
            "UPDATE artist SET name = name || ' (upd)' WHERE id <= 200",
            "DELETE FROM artist WHERE id % 3 = 0",
            "INSERT INTO artist (id, gid, name, sort_name) \
             SELECT g, md5(g::text)::uuid, 'B ' || g, 'B, ' || g FROM generate_series(3, 60, 3) g",
            "UPDATE artist SET comment = 'late' WHERE id = 7",
        ],
    ];
    for (i, statements) in cuts.iter().enumerate() {
        let serial = i as u64 + 1;
        for sql in *statements {
            master.batch_execute(sql).unwrap();
        }
        let expected = logged_timestamps(&mut master);
        let distinct: std::collections::HashSet<&String> = expected.values().collect();
        assert_eq!(
            distinct.len() == 1,
            i == 0,
            "cut {serial}'s log has one timestamp only in the first cut"
        );
        assert!(env.dump().starts_with(&format!("packet {serial}: ")));
        env.apply();
        env.assert_identical();
        let lines: Vec<String> = packet_lines(env.feed.path())
            .into_iter()
            .filter(|(s, l)| *s == serial && l.starts_with("1\t"))
            .map(|(_, l)| l)
            .collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "packet {serial}: one line per changed key"
        );
        for line in &lines {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                Some(f[2]),
                expected.get(f[1]).map(String::as_str),
                "packet {serial}, row {}: the line's timestamp is not its change's",
                f[1]
            );
            if f[3] == "2" {
                assert_eq!(
                    f.len(),
                    5,
                    "packet {serial}: a REMOVE line carries the key alone: {line}"
                );
                assert_eq!(
                    f[4], f[1],
                    "packet {serial}: a REMOVE line's key is its rowid"
                );
            }
        }
        assert!(
            i == 0 || lines.iter().any(|l| l.split('\t').nth(3) == Some("2")),
            "cut 2 removes rows"
        );
    }
}

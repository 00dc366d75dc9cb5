//! Catching up applies consecutive packets as one batch: the newest version of each key wins,
//! a bad packet in a batch leaves the replica at the packet before it, named as alone, and a
//! kill anywhere in a batch leaves the replica at a packet boundary.

mod common;

use common::feed::{self, packet_element, rewrite_packet, set_index};
use common::{Env, Workload};

const GID: &str = "10000000-0000-4000-a000-0000000000";

/// Packets 2..=5 of one key's life (ADD, UPDATE, REMOVE, ADD again) on artist_credit, and on
/// artist, whose unique gid two rows swap across the batch.
fn key_lives(env: &Env) {
    let mut master = env.connect_master();
    let steps = [
        "INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (1, 'base', 1, gen_random_uuid()); \
         INSERT INTO artist (id, gid, name, sort_name) VALUES (1, 'GID01', 'One', 'One'), (2, 'GID02', 'Two', 'Two')",
        "INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (10, 'added', 1, gen_random_uuid()), \
             (11, 'short-lived', 1, gen_random_uuid()); \
         INSERT INTO artist (id, gid, name, sort_name) VALUES (10, 'GID10', 'Ten', 'Ten')",
        "UPDATE artist_credit SET name = 'updated', artist_count = 2 WHERE id = 10; \
         DELETE FROM artist_credit WHERE id = 11; \
         UPDATE artist SET gid = 'GID99' WHERE id = 1; UPDATE artist SET gid = 'GID01' WHERE id = 2; \
         UPDATE artist SET name = 'Ten again' WHERE id = 10",
        "DELETE FROM artist_credit WHERE id IN (1, 10); \
         UPDATE artist SET gid = 'GID02' WHERE id = 1; DELETE FROM artist WHERE id = 10",
        "INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (10, 're-added', 3, gen_random_uuid()); \
         INSERT INTO artist (id, gid, name, sort_name) VALUES (10, 'GID10', 'Ten, back', 'Ten')",
    ];
    for step in steps {
        master.batch_execute(&step.replace("GID", GID)).unwrap();
        env.dump();
    }
}

/// Packet 1 alone, then key_lives' packets 2..=5 in one run (one batch) staged in the order
/// `log_says`, then a random workload's packets: both replicas end identical.
fn keeps_each_keys_newest_version(name: &str, envs: &[(&str, &str)], log_says: &str) {
    let env = Env::new(name);
    key_lives(&env);
    let only_first = tempfile::tempdir().unwrap();
    feed::copy_dir(env.feed.path(), only_first.path());
    let xml = feed::index(only_first.path());
    let mut first = xml.clone();
    for serial in 2..=5 {
        first = first.replace(&packet_element(&xml, serial), "");
    }
    set_index(only_first.path(), &first);
    let from = only_first.path().to_str().unwrap();
    env.mirror_ok(&["apply", "--db", &env.replica, "--from", from]);
    let log = env.apply_logged(envs);
    assert!(log.contains("applied packets 2..=5"), "{log}");
    assert!(log.contains(log_says), "{log}");
    assert_eq!(env.replica_position(), Some(5));
    env.assert_identical();

    // A random workload's packets, all pending at once, also apply to an identical replica.
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 5, 0);
    for _ in 0..6 {
        work.run(&mut master, 120, true);
        env.dump();
    }
    env.apply_logged(envs);
    env.assert_identical();
}

/// key_lives' first and last packets add rows only: the batch is staged in packet order.
#[test]
fn a_batch_keeps_each_keys_newest_version() {
    keeps_each_keys_newest_version("batch_keys", &[], "staged in packet order");
}

/// The same batch staged newest packet first, its superseded lines left out.
#[test]
fn a_batch_staged_newest_first_keeps_each_keys_newest_version() {
    keeps_each_keys_newest_version(
        "batch_keys_newest",
        &[("REPLGEN_BATCH_NEWEST_FIRST", "1")],
        "staged newest packet first",
    );
}

#[test]
fn a_bad_packet_in_a_batch_leaves_the_replica_at_the_packet_before_it() {
    let env = Env::new("batch_bad");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 23, 0);
    for _ in 0..5 {
        work.run(&mut master, 150, false);
        env.dump();
    }
    // Packet 1 alone; packets 2..=5 are then one batch, whose packet 4 has a bad value.
    let scratch = tempfile::tempdir().unwrap();
    let listing = |dir: &std::path::Path, upto: u64| {
        feed::copy_dir(env.feed.path(), dir);
        let xml = feed::index(dir);
        let mut cut = xml.clone();
        for serial in upto + 1..=5 {
            cut = cut.replace(&packet_element(&xml, serial), "");
        }
        set_index(dir, &cut);
        dir.to_str().unwrap().to_string()
    };
    let first = listing(&scratch.path().join("first"), 1);
    env.mirror_ok(&["apply", "--db", &env.replica, "--from", &first]);
    let bad = scratch.path().join("bad");
    feed::copy_dir(env.feed.path(), &bad);
    rewrite_packet(&bad, 4, |t| {
        feed::edit_first_line(
            t,
            |f| f[3] != "2",
            |mut f| {
                f.pop();
                f
            },
        )
    });
    let err = env.mirror_fails(
        &[
            "apply",
            "--db",
            &env.replica,
            "--from",
            bad.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("packet 4"), "{err}");
    assert!(err.contains("value fields, expected"), "{err}");
    assert!(
        !err.contains("packet 2") && !err.contains("packet 3"),
        "{err}"
    );
    assert_eq!(env.replica_position(), Some(3));
    // The replica holds exactly what packets 1..=3 make.
    let upto3 = listing(&scratch.path().join("upto3"), 3);
    let fresh = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("batch_bad_fresh"));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    env.mirror_ok(&["apply", "--db", &fresh, "--from", &upto3]);
    let mut replica = env.replica_digest();
    replica.retain(|(table, _)| table != "position");
    assert_eq!(common::digests(&fresh, &env.schema), replica);
    // The good feed carries on from there.
    env.apply();
    env.assert_identical();
}

#[test]
fn a_kill_inside_a_batch_leaves_the_replica_at_a_packet_boundary() {
    let env = Env::new("batch_crash");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 31, 0);
    work.run(&mut master, 100, false);
    env.dump();
    env.apply();
    let apply = ["apply", "--db", &env.replica, "--from", env.feed()];
    let before = env.replica_position().unwrap();
    let mut pending = 0;
    for point in ["apply-staged", "apply-before-commit", "apply-after-commit"] {
        pending += 3;
        for _ in 0..3 {
            work.run(&mut master, 80, true);
            env.dump();
        }
        common::crash_at(point, &apply);
        // The pending packets were one batch: all of them or none.
        let after = env.replica_position().unwrap();
        let expected = if point == "apply-after-commit" {
            before + pending
        } else {
            before
        };
        assert_eq!(after, expected, "{point}");
    }
    env.apply();
    env.assert_identical();
}

/// A batch stages a table's short runs in memory and streams its long ones through their own
/// COPY: packets mixing both for one table (the same keys in each) apply as master has them.
#[test]
fn a_batch_mixing_short_and_long_runs_of_a_table_applies_every_version() {
    let env = Env::new("batch_runs");
    let mut master = env.connect_master();
    master
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) \
             SELECT g, gen_random_uuid(), 'Artist ' || g, 'Artist' FROM generate_series(1, 10) g",
        )
        .unwrap();
    env.dump();
    env.apply();
    let steps = [
        // Short runs: they wait for the batch's end.
        "UPDATE artist SET name = 'short' WHERE id <= 5; \
         INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (1, 'one', 1, gen_random_uuid())",
        // A long run (over 64 KiB of staging lines) of the same table, the same keys among them.
        "INSERT INTO artist (id, gid, name, sort_name) \
         SELECT g, gen_random_uuid(), repeat('long name ', 20) || g, 'Artist' FROM generate_series(11, 3000) g; \
         UPDATE artist SET name = 'long' WHERE id <= 3",
        "UPDATE artist SET name = 'last' WHERE id IN (1, 2000); DELETE FROM artist WHERE id IN (4, 2500); \
         UPDATE artist_credit SET name = 'uno' WHERE id = 1",
    ];
    for step in steps {
        master.batch_execute(step).unwrap();
        env.dump();
    }
    let out = env.apply();
    assert!(out.contains("applied packets 2..=4"), "{out}");
    env.assert_identical();
}

/// The number before " lines left out" in apply's debug log, summed over its batches.
fn lines_left_out(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split_once(" lines left out"))
        .filter_map(|(head, _)| head.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A batch is staged newest packet first, and a line whose key a newer packet of the batch
/// changes again is checked but left out (the newer line replaces or removes the row anyway).
/// Hours of random writes over every table (every key shape, key changes, removes, re-adds),
/// with some rows changed every hour, apply as one batch to an identical replica.
#[test]
fn a_batch_leaves_out_the_lines_newer_packets_supersede() {
    let env = Env::new("batch_newest");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 41, 0);
    work.run(&mut master, 150, false);
    env.dump();
    env.apply();
    for hour in 0..8 {
        work.run(&mut master, 60, false);
        master
            .batch_execute(&format!(
                "UPDATE artist SET name = 'hour {hour}' WHERE id IN (SELECT id FROM artist ORDER BY id LIMIT 20)"
            ))
            .unwrap();
        env.dump();
    }
    let log = env.apply_logged(&[]);
    assert!(log.contains("applied packets 2..=9"), "{log}");
    assert!(lines_left_out(&log) >= 7 * 20, "{log}");
    env.assert_identical();
}

/// Past the memory budget for a batch's keys (lowered here), the batch is staged again in
/// packet order, every line, and applies the same.
#[test]
fn a_batch_whose_keys_exceed_the_memory_budget_is_staged_in_packet_order() {
    let env = Env::new("batch_budget");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 43, 0);
    work.run(&mut master, 100, false);
    env.dump();
    env.apply();
    for _ in 0..4 {
        work.run(&mut master, 80, false);
        env.dump();
    }
    let log = env.apply_logged(&[("REPLGEN_BATCH_KEY_BYTES", "2000")]);
    assert!(
        log.contains("applying the batch again in packet order"),
        "{log}"
    );
    assert!(log.contains("applied packets 2..=5"), "{log}");
    assert_eq!(lines_left_out(&log), 0, "{log}");
    env.assert_identical();
}

/// A line left out of a batch is still checked: a bad value in a line a newer packet
/// supersedes is refused, naming its packet, and the replica stays where it was.
#[test]
fn a_superseded_line_with_a_bad_value_is_refused() {
    let env = Env::new("batch_superseded_bad");
    let mut master = env.connect_master();
    master
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) \
             SELECT g, gen_random_uuid(), 'Artist ' || g, 'Artist' FROM generate_series(1, 5) g",
        )
        .unwrap();
    env.dump();
    env.apply();
    for name in ["two", "three"] {
        master
            .batch_execute(&format!("UPDATE artist SET name = '{name}' WHERE id = 3"))
            .unwrap();
        env.dump();
    }
    // Packet 2's one line loses a field; packet 3 names the new packet 2 as its predecessor,
    // so the two still make one batch.
    let sha256 = |serial| {
        let element = packet_element(&feed::index(env.feed.path()), serial);
        let at = element.find("sha256=\"").unwrap() + 8;
        element[at..at + 64].to_string()
    };
    let before = sha256(2);
    rewrite_packet(env.feed.path(), 2, |t| {
        feed::edit_first_line(
            t,
            |f| f[3] == "1",
            |mut f| {
                f.pop();
                f
            },
        )
    });
    let after = sha256(2);
    rewrite_packet(env.feed.path(), 3, |t| t.replace(&before, &after));
    let (status, log) =
        common::run_logged(std::process::Command::new(common::mirror_bin()).args([
            "apply",
            "--db",
            &env.replica,
            "--from",
            env.feed(),
        ]));
    assert_eq!(status.code(), Some(1), "{log}");
    // Refused in the batch, then by packet 2 alone.
    assert!(
        log.contains("packets 2 to 3 as one batch: packet 2 ("),
        "{log}"
    );
    assert!(log.contains("value fields, expected 17"), "{log}");
    assert_eq!(env.replica_position(), Some(1));
}

/// Each packet of a batch stays open until it is staged, so a low limit on open files (a
/// container's) bounds the batch: 40 pending packets under `ulimit -n 48` apply in batches of
/// 12, none of them failing for want of a file.
#[test]
fn a_low_limit_on_open_files_makes_the_batches_smaller() {
    let env = Env::new("batch_files");
    let mut master = env.connect_master();
    master
        .batch_execute("INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (1, 'one', 1, gen_random_uuid())")
        .unwrap();
    env.dump();
    env.apply();
    for k in 2..=41 {
        master
            .batch_execute(&format!(
                "UPDATE artist_credit SET artist_count = {k} WHERE id = 1; \
                 INSERT INTO artist_credit (id, name, artist_count, gid) VALUES ({k}, 'c', 1, gen_random_uuid())"
            ))
            .unwrap();
        env.dump();
    }
    let (status, log) = common::run_logged(
        std::process::Command::new("sh")
            .args([
                "-c",
                "ulimit -n 48 && exec \"$0\" apply --db \"$1\" --from \"$2\"",
            ])
            .args([common::mirror_bin(), &env.replica, env.feed()]),
    );
    assert!(status.success(), "{log}");
    assert!(!log.contains("one by one"), "{log}");
    assert!(
        log.contains("packets 2 to 13: staged newest packet first"),
        "{log}"
    );
    env.assert_identical();
}

//! Real kill -9 of real processes at random instants: nothing committed is lost, duplicated or
//! left half-published.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::feed;
use common::workload::Rng;
use common::{Env, Workload};
use sha2::Digest;

fn kill_after(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(common::mirror_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
    }
    child.wait().unwrap();
    killed
}

/// Every listed file exists with its listed size and sha256; nothing but listed packets and
/// exports ends in `.gz`.
fn assert_feed_intact(feed_dir: &std::path::Path) {
    let xml = feed::index(feed_dir);
    let mut listed = std::collections::HashSet::new();
    for element in xml.split('<').filter(|e| e.starts_with("packet ")) {
        let element = format!("<{element}");
        let path = feed::attr(&element, "path");
        let bytes = std::fs::read(feed_dir.join(&path))
            .unwrap_or_else(|_| panic!("listed {path} is missing"));
        assert_eq!(
            bytes.len().to_string(),
            feed::attr(&element, "size"),
            "{path}: size"
        );
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            feed::attr(&element, "sha256"),
            "{path}: sha256"
        );
        listed.insert(path);
    }
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut files = Vec::new();
    walk(feed_dir, feed_dir, &mut files);
    for file in files {
        if file.starts_with("packets/") {
            assert!(listed.contains(&file), "{file} is published but not listed");
        }
        if file.ends_with(".gz") && !file.starts_with("exports/") {
            assert!(
                file.starts_with("packets/"),
                "{file}: a .gz file outside packets/"
            );
        }
    }
}

#[test]
fn dumpers_killed_at_random_instants_under_concurrent_writes() {
    let env = Env::new("crash_dump");
    let writers = common::Writers::start(&env, 2, 200);
    let mut rng = Rng::new(99);
    let mut killed = 0;
    for run in 0..60 {
        // Spread the kills over a dumper's whole life: start-up, recovery, the cut, publishing.
        let delay = Duration::from_micros(rng.below(250_000));
        if kill_after(&["dump", "--db", &env.master, "--out", env.feed()], delay) {
            killed += 1;
        }
        if run % 10 == 9 {
            assert_feed_intact(env.feed.path());
        }
    }
    writers.stop();
    assert!(
        killed >= 20,
        "only {killed} of 60 dumpers were killed mid-run"
    );
    env.dump();
    assert_feed_intact(env.feed.path());
    assert!(
        !env.feed.path().join(".replgen-tmp").exists()
            || std::fs::read_dir(env.feed.path().join(".replgen-tmp"))
                .unwrap()
                .count()
                == 0
    );
    env.apply();
    env.assert_identical();
}

#[test]
fn appliers_killed_at_random_instants_while_catching_up() {
    let env = Env::new("crash_apply");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 300, 0);
    for _ in 0..25 {
        work.run(&mut master, 60, true);
        env.dump();
    }
    let mut rng = Rng::new(5);
    let mut killed = 0;
    for _ in 0..60 {
        // Keep new packets coming, so that most appliers have work when they are killed.
        if rng.chance(50) {
            work.run(&mut master, 30, true);
            env.dump();
        }
        let delay = Duration::from_micros(rng.below(300_000));
        if kill_after(
            &["apply", "--db", &env.replica, "--from", env.feed()],
            delay,
        ) {
            killed += 1;
        }
    }
    assert!(
        killed >= 15,
        "only {killed} of 60 appliers were killed mid-run"
    );
    env.apply();
    env.assert_identical();
}

fn crash_at(env: &Env, point: &str, args: &[&str]) {
    let out = Command::new(common::mirror_bin())
        .args(args)
        .env("REPLGEN_CRASH_AT", point)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{point}: the process should have died there"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("crash point {point}")),
        "{point}: not reached"
    );
    let _ = env;
}

/// The windows a random kill rarely hits, each hit on purpose: mid-packet, before and after the
/// commit, after publishing, for dump and export; staged and before/after commit for apply.
#[test]
fn every_crash_point_recovers_without_loss_or_duplicates() {
    let env = Env::new("crash_points");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 77, 0);
    let dump = ["dump", "--db", &env.master, "--out", env.feed()];
    let export = ["export", "--db", &env.master, "--out", env.feed()];
    for point in [
        "dump-mid-packet",
        "dump-before-commit",
        "dump-after-commit",
        "dump-after-publish",
    ] {
        work.run(&mut master, 80, true);
        crash_at(&env, point, &dump);
        work.run(&mut master, 20, true);
        env.dump();
        assert_feed_intact(env.feed.path());
    }
    for point in ["export-before-commit", "export-after-commit"] {
        work.run(&mut master, 80, true);
        crash_at(&env, point, &export);
        env.dump();
        assert_feed_intact(env.feed.path());
    }
    env.mirror_ok(&export);
    let apply = ["apply", "--db", &env.replica, "--from", env.feed()];
    for point in ["apply-staged", "apply-before-commit", "apply-after-commit"] {
        crash_at(&env, point, &apply);
    }
    env.apply();
    env.assert_identical();
    // A second replica bootstraps from the export written after the crashes.
    let fresh = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("crash_points_fresh"));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    env.mirror_ok(&["import", "--db", &fresh, "--from", env.feed()]);
    env.mirror_ok(&["apply", "--db", &fresh, "--from", env.feed()]);
    assert_eq!(
        common::digests(&fresh, &env.schema),
        common::digests(&env.master, &env.schema)
    );
}

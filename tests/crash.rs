//! Real kill -9 of real processes at random instants: nothing committed is lost, duplicated or
//! left half-published.

mod common;

use std::time::{Duration, Instant};

use common::feed;
use common::workload::Rng;
use common::{Ended, Env, Workload};
use sha2::Digest;

/// A generous bound on rounds, so that a machine where kills keep missing fails instead of
/// looping: far more rounds than the kills need (most kills land, drawn within a measured run).
const MAX_ROUNDS: usize = 400;

/// Runs `mirror args`, killed with SIGKILL `delay` after its start unless it exited by then.
fn run_killed_after(args: &[&str], delay: Duration) -> Ended {
    common::run_killed_after(common::mirror_bin(), args, delay)
}

/// A kill instant within `run`, the measured length of an uninterrupted run: spread over the
/// whole life of the process (start-up, recovery, the work, publishing or committing).
fn within(rng: &mut Rng, run: Duration) -> Duration {
    Duration::from_micros(rng.below(run.as_micros().max(1) as u64))
}

/// Times one uninterrupted, successful `mirror args`.
fn timed(env: &Env, args: &[&str]) -> Duration {
    let started = Instant::now();
    env.mirror_ok(args);
    started.elapsed()
}

fn newest_serial(env: &Env) -> i64 {
    env.connect_master()
        .query_one("SELECT coalesce(max(serial), 0) FROM replgen.cuts", &[])
        .unwrap()
        .get(0)
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
    const KILLS: usize = 30;
    let env = Env::new("crash_dump");
    let writers = common::Writers::start(&env, 2, 200);
    let dump = ["dump", "--db", &env.master, "--out", env.feed()];
    let mut rng = Rng::new(99);
    let mut run = Duration::ZERO;
    let (mut killed, mut rounds) = (0, 0);
    while killed < KILLS && rounds < MAX_ROUNDS {
        // An uninterrupted dumper first, and again every few rounds as the tables grow: it also
        // recovers whatever the kills before it interrupted.
        if rounds % 5 == 0 {
            run = timed(&env, &dump);
            // That dumper finished whatever the kills before it interrupted: the feed is whole.
            // (Right after a kill it need not be: a packet renamed to its final name before the
            // index that lists it is rewritten stays unlisted, and unseen by replicas, until
            // the next dumper's recovery.)
            assert_feed_intact(env.feed.path());
        }
        if let Ended::Killed = run_killed_after(&dump, within(&mut rng, run)) {
            killed += 1;
        }
        rounds += 1;
    }
    writers.stop();
    eprintln!("{killed} dumpers killed mid-run in {rounds} rounds; last uninterrupted run {run:?}");
    assert_eq!(
        killed, KILLS,
        "only {killed} of {rounds} dumpers were killed mid-run"
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

/// A second replica that applies every packet uninterrupted as soon as it is published, timing
/// the work the killed appliers are given: how long an applier takes to start and to do nothing,
/// and how much longer each packet made its run.
struct Pace {
    db: String,
    at: i64,
    startup: Duration,
    packet: std::collections::BTreeMap<i64, Duration>,
}

impl Pace {
    fn new(env: &Env) -> Pace {
        let db = env
            .cluster
            .create_database(&replgen_testkit::Cluster::unique_name("crash_apply_pace"));
        common::psql_file(&db, &common::root().join("tables.sql"));
        Pace {
            db,
            at: 0,
            startup: Duration::ZERO,
            packet: Default::default(),
        }
    }

    /// Applies and times the packets published since the last call.
    fn follow(&mut self, env: &Env) {
        let newest = newest_serial(env);
        let apply = ["apply", "--db", &self.db, "--from", env.feed()];
        let run = timed(env, &apply);
        self.startup = timed(env, &apply);
        let new = (newest - self.at).max(1) as u32;
        for serial in self.at + 1..=newest {
            self.packet
                .insert(serial, run.saturating_sub(self.startup) / new);
        }
        self.at = newest;
    }

    /// How long an uninterrupted applier takes from packet `from` to packet `to`.
    fn run(&self, from: i64, to: i64) -> Duration {
        self.startup + self.packet.range(from + 1..=to).map(|(_, d)| *d).sum()
    }
}

#[test]
fn appliers_killed_at_random_instants_while_catching_up() {
    const KILLS: usize = 20;
    let env = Env::new("crash_apply");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 300, 0);
    let mut pace = Pace::new(&env);
    for _ in 0..25 {
        work.run(&mut master, 60, true);
        env.dump();
        pace.follow(&env);
    }
    let apply = ["apply", "--db", &env.replica, "--from", env.feed()];
    let mut rng = Rng::new(5);
    let (mut killed, mut rounds) = (0, 0);
    while killed < KILLS && rounds < MAX_ROUNDS {
        rounds += 1;
        // Keep new packets coming, and never start an applier with nothing to apply.
        if env.replica_position().unwrap_or(0) == newest_serial(&env) || rng.chance(50) {
            work.run(&mut master, 30, true);
            if !env.dump().is_empty() {
                pace.follow(&env);
            }
        }
        let (from, newest) = (env.replica_position().unwrap_or(0), newest_serial(&env));
        if from == newest {
            continue;
        }
        // Counted only when the kill stopped it before it had applied everything.
        let delay = within(&mut rng, pace.run(from, newest));
        if let Ended::Killed = run_killed_after(&apply, delay) {
            if env.replica_position().unwrap_or(0) < newest {
                killed += 1;
            }
        }
    }
    eprintln!("{killed} appliers killed mid-run in {rounds} rounds");
    assert_eq!(
        killed, KILLS,
        "only {killed} of {rounds} appliers were killed mid-run"
    );
    env.apply();
    env.assert_identical();
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
        common::crash_at(point, &dump);
        work.run(&mut master, 20, true);
        env.dump();
        assert_feed_intact(env.feed.path());
    }
    for point in ["export-before-commit", "export-after-commit"] {
        work.run(&mut master, 80, true);
        common::crash_at(point, &export);
        env.dump();
        assert_feed_intact(env.feed.path());
    }
    env.mirror_ok(&export);
    let apply = ["apply", "--db", &env.replica, "--from", env.feed()];
    for point in ["apply-staged", "apply-before-commit", "apply-after-commit"] {
        common::crash_at(point, &apply);
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

//! What operators do to a running feed over weeks: prune it, publish what replicas cannot load,
//! restart the database under the dumper and the follower. Nothing may get stuck, nothing may
//! go out that replicas would refuse forever.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};

use common::{Env, Workload, Writers};

/// Files the tool deleted itself (`--delete-pruned`) never block a later command, and the
/// dumper forgets the cuts the index no longer lists.
#[test]
fn pruned_packets_never_block_a_later_export_or_dump() {
    let env = Env::new("lifecycle_prune");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 11, 0);
    for _ in 0..6 {
        work.run(&mut master, 20, true);
        env.mirror_ok(&[
            "dump",
            "--db",
            &env.master,
            "--out",
            env.feed(),
            "--keep",
            "2",
            "--delete-pruned",
        ]);
    }
    let cuts: i64 = master
        .query_one("SELECT count(*) FROM replgen.cuts", &[])
        .unwrap()
        .get(0);
    assert_eq!(cuts, 2, "replgen.cuts keeps only what the index lists");
    // The README's own export command, with its default --keep, then a dump listing more.
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    work.run(&mut master, 20, true);
    env.mirror_ok(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--keep",
        "1500",
    ]);
    // A new mirror starts from the export and follows.
    env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    env.apply();
    env.assert_identical();
}

/// `--keep` never prunes a packet after the newest export: a new mirror imports the export and
/// follows, however many cuts came since (it used to be told to import the same export again).
#[test]
fn pruning_keeps_every_packet_after_the_newest_export() {
    let env = Env::new("lifecycle_keep_export");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 13, 0);
    work.run(&mut master, 20, true);
    env.dump();
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    let prune = ["--keep", "2", "--delete-pruned"];
    for _ in 0..5 {
        work.run(&mut master, 20, true);
        env.dump_with(&prune);
    }
    let listed = common::feed::index(env.feed.path());
    assert!(listed.contains("serial=\"2\""), "{listed}");
    env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    env.apply();
    env.assert_identical();
    // A newer export lets them go.
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    work.run(&mut master, 20, true);
    env.dump_with(&prune);
    let listed = common::feed::index(env.feed.path());
    assert!(!listed.contains("serial=\"2\""), "{listed}");
    env.apply();
    env.assert_identical();
}

/// A value beyond what replicas accept is refused at the cut, naming table and key, and the
/// pending changes stay for the next cut once the row is fixed.
#[test]
fn a_row_replicas_cannot_load_is_refused_at_the_cut() {
    let env = Env::new("lifecycle_limits");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 12, 0);
    work.run(&mut master, 30, false);
    env.dump();
    env.apply();
    master
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name, comment, edits_pending, ended) \
             VALUES (990001, gen_random_uuid(), repeat('x', 268435457), 'huge', '', 0, false)",
        )
        .unwrap();
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains("public.artist") && err.contains("990001"),
        "{err}"
    );
    assert!(err.contains("beyond the 268435456 bytes"), "{err}");
    let listed = common::feed::index(env.feed.path());
    assert!(
        !listed.contains("serial=\"2\""),
        "nothing may be published: {listed}"
    );
    // Fixed on the master, the same pending changes go out in the next packet.
    master
        .batch_execute("UPDATE artist SET name = 'fits now' WHERE id = 990001")
        .unwrap();
    assert!(env.dump().starts_with("packet 2: "));
    env.apply();
    env.assert_identical();
}

/// `export --new-feed` into the env's folder: its stdout.
fn start_new_feed(env: &Env) -> String {
    env.mirror_ok(&[
        "export",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--new-feed",
    ])
}

/// `import --replace` of the feed's export into the env's replica.
fn import_replacing(env: &Env) -> String {
    env.mirror_ok(&[
        "import",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
        "--replace",
    ])
}

fn spawn(args: &[&str]) -> Child {
    Command::new(common::mirror_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}:\n{stderr}");
    stderr
}

/// A real `pg_ctl restart` under a running `dump --every` and `apply --follow`: both say so
/// once, reconnect and carry on, and the replica ends identical.
#[test]
fn dump_every_and_apply_follow_survive_a_database_restart() {
    let cluster = replgen_testkit::Cluster::dedicated();
    let env = Env::on(cluster, "lifecycle_restart");
    let dumper = spawn(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--every",
        "200ms",
    ]);
    let applier = spawn(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
        "--follow",
        "--interval",
        "200ms",
    ]);
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 13, 0);
    work.run(&mut master, 40, false);
    env.wait_until_caught_up(&mut master);

    cluster.restart();
    let mut master = env.connect_master();
    work.run(&mut master, 40, true);
    env.wait_until_caught_up(&mut master);
    work.run(&mut master, 40, true);
    env.wait_until_caught_up(&mut master);

    for (what, stderr) in [("dump", stop(dumper)), ("apply", stop(applier))] {
        let said = stderr.matches("lost the connection").count();
        assert!(
            (1..=2).contains(&said),
            "{what} should say once that it lost the connection, said it {said} times:\n{stderr}"
        );
    }
    env.assert_identical();
}

/// Capture uninstalled and installed again starts a new feed: the dumper refuses to mix it into
/// the old feed's folder, `export --new-feed` starts it there, replicas of the old feed refuse
/// it until they `import --replace` (before: serials restarted at 1 and a replica said "up to
/// date at packet 1" while it differed).
#[test]
fn reinstalled_capture_is_a_new_feed_that_replicas_refuse_until_they_import() {
    let env = Env::new("lifecycle_reinstall");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 14, 0);
    work.run(&mut master, 30, false);
    env.dump();
    env.apply();
    env.mirror_ok(&["uninstall", "--db", &env.master]);
    env.mirror_ok(&["install", "--db", &env.master]);
    work.run(&mut master, 30, true);
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains("holds feed") && err.contains("--new-feed"),
        "{err}"
    );
    start_new_feed(&env);
    let before = env.replica_digest();
    let err = env.mirror_fails(&["apply", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(
        err.contains("follows feed") && err.contains("import --replace"),
        "{err}"
    );
    assert_eq!(before, env.replica_digest(), "a refusal changes nothing");
    // `status` against the new feed says the same, exit 1, instead of "0 packets behind" (its
    // serials say nothing of this replica; found by an operator review).
    let err = env.mirror_fails(
        &[
            "status",
            "--db",
            &env.replica,
            "--from",
            env.feed(),
            "--max-lag",
            "1h",
        ],
        1,
    );
    assert!(err.contains("follows feed"), "{err}");
    import_replacing(&env);
    work.run(&mut master, 30, true);
    env.dump();
    env.apply();
    env.assert_identical();
}

/// A wiped feed folder is named as such, and `export --new-feed` is the way forward; serials
/// continue after the old feed's.
#[test]
fn a_wiped_feed_folder_is_named_and_a_new_feed_continues_the_serials() {
    let env = Env::new("lifecycle_wiped");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 15, 0);
    for _ in 0..2 {
        work.run(&mut master, 20, true);
        env.dump();
    }
    env.apply();
    std::fs::remove_dir_all(env.feed.path()).unwrap();
    std::fs::create_dir(env.feed.path()).unwrap();
    work.run(&mut master, 20, true);
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains("not, or no longer, this database's feed"),
        "{err}"
    );
    assert!(err.contains("export --new-feed"), "{err}");
    let out = start_new_feed(&env);
    assert!(
        out.contains("packet 3: cut together with the export"),
        "{out}"
    );
    env.mirror_fails(&["apply", "--db", &env.replica, "--from", env.feed()], 1);
    import_replacing(&env);
    work.run(&mut master, 20, true);
    assert!(env.dump().starts_with("packet 4: "));
    env.apply();
    env.assert_identical();
}

/// A database behind its folder (restored to an earlier point in time) refuses to cut the
/// serials the folder already lists.
#[test]
fn a_database_behind_its_folder_refuses_to_cut_again() {
    let env = Env::new("lifecycle_behind");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 16, 0);
    for _ in 0..3 {
        work.run(&mut master, 20, true);
        env.dump();
    }
    // What a restore to before cut 3 leaves: the database knows cuts 1 and 2.
    master
        .batch_execute("DELETE FROM replgen.cuts WHERE serial = 3")
        .unwrap();
    work.run(&mut master, 20, true);
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains("already lists packet 3") && err.contains("only up to 2"),
        "{err}"
    );
    assert!(common::feed::index(env.feed.path()).contains("serial=\"3\""));
}

/// `dump --every` whose folder is deleted under it stops with that message instead of writing
/// an index that lists files that are gone.
#[test]
fn dump_every_stops_when_its_folder_is_deleted_under_it() {
    let env = Env::new("lifecycle_deleted");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 17, 0);
    work.run(&mut master, 20, false);
    let mut dumper = spawn(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--every",
        "100ms",
    ]);
    let index = env.feed.path().join("index.xml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&index).is_ok_and(|xml| xml.contains("serial=\"1\"")) {
        assert!(std::time::Instant::now() < deadline, "no first packet");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::remove_dir_all(env.feed.path()).unwrap();
    work.run(&mut master, 20, true);
    let status = dumper.wait().unwrap();
    let mut stderr = String::new();
    dumper
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no index.xml"), "{stderr}");
    assert!(
        !index.exists(),
        "an index listing missing files was written"
    );
}

/// Two feeds with the same identity (a copied or forked feed): the replica notices that the next
/// packet does not follow the one it applied, and changes nothing.
#[test]
fn a_packet_that_does_not_follow_the_applied_one_is_refused() {
    let env = Env::new("lifecycle_chain");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 18, 0);
    work.run(&mut master, 20, false);
    env.dump();
    env.apply();
    // A second master publishing under the first one's identity.
    let fork = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("lifecycle_fork"));
    common::psql_file(&fork, &common::root().join("tables.sql"));
    env.mirror_ok(&["install", "--db", &fork]);
    let fork_feed = tempfile::tempdir().unwrap();
    let fork_dir = fork_feed.path().to_str().unwrap();
    let mut fork_client = postgres::Client::connect(&fork, postgres::NoTls).unwrap();
    // The fork's feed table exists once its dumper first ran; give it the first one's identity.
    env.mirror_ok(&["dump", "--db", &fork, "--out", fork_dir]);
    let id: String = master
        .query_one("SELECT id FROM replgen.feed", &[])
        .unwrap()
        .get(0);
    fork_client
        .execute("UPDATE replgen.feed SET id = $1", &[&id])
        .unwrap();
    // Nothing was published yet: the folder's empty index may go with the old identity.
    std::fs::remove_file(fork_feed.path().join("index.xml")).unwrap();
    let mut fork_work = Workload::new(&mut fork_client, &env.schema, 19, 0);
    for _ in 0..2 {
        fork_work.run(&mut fork_client, 20, true);
        env.mirror_ok(&["dump", "--db", &fork, "--out", fork_dir]);
    }
    let before = env.replica_digest();
    let err = env.mirror_fails(&["apply", "--db", &env.replica, "--from", fork_dir], 1);
    assert!(err.contains("re-cut a serial"), "{err}");
    assert_eq!(before, env.replica_digest());
}

/// A capture revision is the whole install migration again (as a later replgen writes it): run
/// on a live master, with changes pending and writers committing throughout, it keeps every
/// change and the feed, and leaves no moment without capture; refused by a deadlock, it
/// changed nothing.
#[test]
fn the_install_migration_run_again_under_writers_keeps_every_change_and_the_feed() {
    let env = Env::new("lifecycle_revision");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 14, 0);
    work.run(&mut master, 20, true);
    env.dump();
    env.apply();
    work.run(&mut master, 20, true);
    let writers = Writers::start(&env, 2, 140);
    let migration = common::root().join("migrations/V1__replgen_capture.sql");
    for round in 0..4 {
        let before = writers.committed();
        common::wait_until("the writers commit", || writers.committed() >= before + 5);
        if round % 2 == 1 {
            // `install` runs the same migration, again by itself after a deadlock.
            env.mirror_ok(&["install", "--db", &env.master]);
            continue;
        }
        // Against transactions that write several tables, the migration's locks may deadlock:
        // PostgreSQL then rolls it back whole, and it runs again, as an operator would.
        let mut attempts = 0;
        loop {
            let out = Command::new(replgen_testkit::pg_program("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &env.master, "-f"])
                .arg(&migration)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                break;
            }
            attempts += 1;
            assert!(
                stderr.contains("deadlock detected") && attempts < 20,
                "the install migration failed: {stderr}"
            );
        }
    }
    let after = writers.committed();
    common::wait_until("the writers commit", || writers.committed() >= after + 5);
    writers.stop();
    env.dump();
    env.apply();
    env.assert_identical();
}

//! What operators do to a running feed over weeks: prune it, publish what replicas cannot load,
//! restart the database under the dumper and the follower. Nothing may get stuck, nothing may
//! go out that replicas would refuse forever.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};

use common::{Env, Workload};

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

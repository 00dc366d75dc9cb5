//! A new mirror starts from a full export aligned with the packet sequence, then applies packets.

mod common;

use common::feed;
use common::{Env, Workload};

#[test]
fn export_during_writes_then_import_and_apply_gives_an_identical_replica() {
    let env = Env::new("bootstrap");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 21, 0);
    work.run(&mut master, 200, false);
    env.dump();
    let writers = common::Writers::start(&env, 2, 400);
    // The export cuts what the writers committed so far into packet 2; packet 3 holds what
    // they commit after its snapshot.
    common::wait_until("the writers have committed changes", || {
        env.pending_changes() > 0
    });
    let out = env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    assert!(out.contains("export 2:"), "{out}");
    common::wait_until(
        "the writers have committed changes since the export",
        || env.pending_changes() > 0,
    );
    env.dump();
    writers.stop();
    env.dump();
    let out = env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    assert!(
        out.contains("imported export 2") && out.contains("continues with packet 3"),
        "{out}"
    );
    let out = env.apply();
    assert!(out.contains("applied packets 3..="), "{out}");
    env.assert_identical();
    // A second import into the now non-empty replica is refused unless told to replace.
    let err = env.mirror_fails(&["import", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(
        err.contains("not empty") && err.contains("--replace"),
        "{err}"
    );
}

#[test]
fn a_tampered_or_truncated_export_is_refused_and_changes_nothing() {
    let env = Env::new("bad_export");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 22, 0);
    work.run(&mut master, 200, false);
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    let xml = feed::index(env.feed.path());
    let start = xml.find("<export ").unwrap();
    let manifest_rel = feed::attr(&xml[start..], "path");
    let export_dir = env
        .feed
        .path()
        .join(&manifest_rel)
        .parent()
        .unwrap()
        .to_path_buf();
    let biggest = std::fs::read_dir(&export_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let original = std::fs::read(&biggest).unwrap();
    let before = env.replica_digest();
    // One flipped byte.
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(&biggest, &flipped).unwrap();
    let err = env.mirror_fails(&["import", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(err.contains("sha256"), "{err}");
    assert_eq!(before, env.replica_digest());
    // Truncated.
    std::fs::write(&biggest, &original[..original.len() / 2]).unwrap();
    let err = env.mirror_fails(&["import", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(
        err.contains("bytes, but the index lists") || err.contains("sha256"),
        "{err}"
    );
    assert_eq!(before, env.replica_digest());
    // Intact again: the import works.
    std::fs::write(&biggest, &original).unwrap();
    env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    env.assert_identical();
}

//! Issue 13, shared machines: the dumper never follows a symbolic link inside the feed folder
//! that it did not make (packets/, exports/, a packet file, index.xml), and a replica reading a
//! local folder refuses a FIFO without blocking. Each refusal names the path and touches
//! nothing the link points at.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{feed, Env, Workload};

/// Every file under `dir` with its bytes (to prove a link's target was left alone).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// Moves `rel` in the feed elsewhere and puts a symbolic link to it in its place.
fn replace_with_link(env: &Env, rel: &str, elsewhere: &Path) -> PathBuf {
    let path = env.feed.path().join(rel);
    let target = elsewhere.join(rel.replace('/', "_"));
    std::fs::rename(&path, &target).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    path
}

fn changes(env: &Env, seed: u64) {
    let mut master = env.connect_master();
    Workload::new(&mut master, &env.schema, seed, 0).run(&mut master, 30, true);
}

/// `command` of the dumper refuses, naming `path` as a symbolic link; the target is untouched.
fn dumper_refuses(env: &Env, command: &str, path: &Path, elsewhere: &Path) {
    let before = snapshot(elsewhere);
    let err = env.mirror_fails(&[command, "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains(&path.display().to_string()) && err.contains("symbolic link"),
        "{command}: {err}"
    );
    assert_eq!(
        snapshot(elsewhere),
        before,
        "{command} changed what the link points at"
    );
}

#[test]
fn a_symlinked_packets_folder_is_refused() {
    let env = Env::new("folder_packets_link");
    changes(&env, 41);
    env.dump();
    let elsewhere = tempfile::tempdir().unwrap();
    let link = replace_with_link(&env, "packets", elsewhere.path());
    changes(&env, 42);
    dumper_refuses(&env, "dump", &link, elsewhere.path());
}

#[test]
fn a_symlinked_packets_folder_planted_before_the_first_dump_is_refused() {
    let env = Env::new("folder_packets_planted");
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), env.feed.path().join("packets")).unwrap();
    changes(&env, 43);
    dumper_refuses(
        &env,
        "dump",
        &env.feed.path().join("packets"),
        elsewhere.path(),
    );
    assert!(snapshot(elsewhere.path()).is_empty());
}

#[test]
fn a_symlinked_exports_folder_is_refused() {
    let env = Env::new("folder_exports_link");
    changes(&env, 44);
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    let elsewhere = tempfile::tempdir().unwrap();
    let link = replace_with_link(&env, "exports", elsewhere.path());
    changes(&env, 45);
    dumper_refuses(&env, "export", &link, elsewhere.path());
}

#[test]
fn a_symlinked_packet_file_is_refused() {
    let env = Env::new("folder_packet_link");
    changes(&env, 46);
    env.dump();
    let elsewhere = tempfile::tempdir().unwrap();
    let rel = feed::attr(
        &feed::packet_element(&feed::index(env.feed.path()), 1),
        "path",
    );
    let link = replace_with_link(&env, &rel, elsewhere.path());
    changes(&env, 47);
    dumper_refuses(&env, "dump", &link, elsewhere.path());
}

#[test]
fn a_symlinked_index_is_refused() {
    let env = Env::new("folder_index_link");
    changes(&env, 48);
    env.dump();
    let elsewhere = tempfile::tempdir().unwrap();
    let link = replace_with_link(&env, "index.xml", elsewhere.path());
    changes(&env, 49);
    dumper_refuses(&env, "dump", &link, elsewhere.path());
    dumper_refuses(&env, "export", &link, elsewhere.path());
}

/// Runs mirror with a hang guard: a FIFO that blocked the command fails the test (the child
/// killed), rather than hanging it.
fn run_guarded(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(common::mirror_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mirror {args:?} blocked (killed after 30 s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_in_a_local_feed_is_refused_without_blocking() {
    let env = Env::new("folder_fifo");
    changes(&env, 50);
    env.dump();
    let copy = tempfile::tempdir().unwrap();
    feed::copy_dir(env.feed.path(), copy.path());
    let from = copy.path().to_str().unwrap();
    // A packet file that is a FIFO: apply refuses it, naming it, with nothing applied.
    let rel = feed::attr(&feed::packet_element(&feed::index(copy.path()), 1), "path");
    mkfifo(&copy.path().join(&rel));
    let before = env.replica_digest();
    let (code, err) = run_guarded(&["apply", "--db", &env.replica, "--from", from]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&rel) && err.contains("not a regular file"),
        "{err}"
    );
    assert_eq!(env.replica_digest(), before);
    // index.xml as a FIFO: apply, import and status refuse it the same way.
    mkfifo(&copy.path().join("index.xml"));
    for command in ["apply", "import", "status"] {
        let (code, err) = run_guarded(&[command, "--db", &env.replica, "--from", from]);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(
            err.contains("index.xml") && err.contains("not a regular file"),
            "{command}: {err}"
        );
        assert_eq!(env.replica_digest(), before);
    }
}

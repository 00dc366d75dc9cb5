//! Issue 13, signed feeds: `keygen`, `dump`/`export --sign-key`, and `apply`/`import`/`status
//! --trust-key` over a folder and over HTTP. Every refusal is checked to change nothing on the
//! replica; Debian's `minisign` checks our signatures and makes a key we sign with.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{feed, Env, Workload};

/// A key pair made by `mirror keygen` in `dir`: (secret, public).
fn keygen(env: &Env, dir: &Path, name: &str) -> (String, String) {
    let (sk, pk) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    env.mirror_ok(&[
        "keygen",
        "--secret-key",
        sk.to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
    ]);
    (sk.display().to_string(), pk.display().to_string())
}

/// Changes on the master, then a dump signed with `keys`.
fn signed_dump(env: &Env, work: &mut Workload, keys: &[&str]) {
    let mut master = env.connect_master();
    work.run(&mut master, 40, true);
    let mut args = vec!["dump", "--db", &env.master, "--out", env.feed()];
    for key in keys {
        args.extend(["--sign-key", key]);
    }
    env.mirror_ok(&args);
}

fn trusted<'a>(command: &'a str, env: &'a Env, from: &'a str, keys: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![command, "--db", &env.replica, "--from", from];
    for key in keys {
        args.extend(["--trust-key", key]);
    }
    args
}

/// Runs `args`, expecting exit 1 with `expected` in stderr, and nothing changed on the replica.
fn refused(env: &Env, args: &[&str], expected: &str) -> String {
    let before = env.replica_digest();
    let err = env.mirror_fails(args, 1);
    assert!(
        err.contains(expected),
        "{args:?}: expected `{expected}` in:\n{err}"
    );
    assert_eq!(env.replica_digest(), before, "{args:?} changed the replica");
    err
}

struct Signed {
    env: Env,
    work: Workload,
    keys: tempfile::TempDir,
    sk: String,
    pk: String,
}

/// A feed of two signed packets, not yet applied.
fn signed_feed(name: &str) -> Signed {
    let env = Env::new(name);
    let keys = tempfile::tempdir().unwrap();
    let (sk, pk) = keygen(&env, keys.path(), "feed");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 31, 0);
    for _ in 0..2 {
        signed_dump(&env, &mut work, &[&sk]);
    }
    Signed {
        env,
        work,
        keys,
        sk,
        pk,
    }
}

#[test]
fn a_signed_feed_applies_with_its_key_over_a_folder_and_http() {
    let Signed {
        env,
        mut work,
        sk,
        pk,
        keys: _keys,
    } = signed_feed("sign_ok");
    assert!(env.feed.path().join("index.xml.minisig").is_file());
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&pk]));
    env.assert_identical();
    signed_dump(&env, &mut work, &[&sk]);
    let server = common::http::serve(env.feed.path().to_path_buf());
    let mut args = trusted("apply", &env, &server.base, &[&pk]);
    args.extend(["--max-age", "1h"]);
    let out = env.mirror_ok(&args);
    assert!(out.contains("applied packets 3..=3"), "{out}");
    env.assert_identical();
    let out = env.mirror_ok(&trusted("status", &env, &server.base, &[&pk]));
    assert!(out.contains('3'), "{out}");
    // A dump that cuts nothing re-signs the index with a new publication time (--max-age).
    let before = feed::index(env.feed.path());
    env.mirror_ok(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--sign-key",
        &sk,
    ]);
    let after = feed::index(env.feed.path());
    assert_ne!(before, after, "the index was not re-published");
    assert_eq!(
        feed::attr(&before.replace("<replication", "<packet"), "feed"),
        feed::attr(&after.replace("<replication", "<packet"), "feed")
    );
    // A dump or export without --sign-key does not quietly unsign the feed (it used to remove
    // the signature, and every replica checking it refused from then on): it is refused, and
    // nothing is written, unless it says --unsigned.
    let mut master = env.connect_master();
    work.run(&mut master, 10, true);
    for command in ["dump", "export"] {
        let err = env.mirror_fails(&[command, "--db", &env.master, "--out", env.feed()], 1);
        assert!(err.contains("the feed is signed"), "{err}");
        assert_eq!(feed::index(env.feed.path()), after);
    }
    env.dump_with(&["--unsigned"]);
    assert!(!env.feed.path().join("index.xml.minisig").exists());
    env.mirror_ok(&["apply", "--db", &env.replica, "--from", env.feed()]);
    env.assert_identical();
}

#[test]
fn import_checks_the_signature_of_a_signed_export() {
    let Signed {
        env, sk, pk, keys, ..
    } = signed_feed("sign_import");
    env.mirror_ok(&[
        "export",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--sign-key",
        &sk,
    ]);
    let (_, other_pk) = keygen(&env, keys.path(), "other");
    refused(
        &env,
        &trusted("import", &env, env.feed(), &[&other_pk]),
        "none of them trusted",
    );
    let server = common::http::serve(env.feed.path().to_path_buf());
    env.mirror_ok(&trusted("import", &env, &server.base, &[&pk]));
    env.assert_identical();
}

#[test]
fn during_a_rotation_either_key_verifies() {
    let env = Env::new("sign_rotation");
    let keys = tempfile::tempdir().unwrap();
    let (old_sk, old_pk) = keygen(&env, keys.path(), "old");
    let (new_sk, new_pk) = keygen(&env, keys.path(), "new");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 32, 0);
    signed_dump(&env, &mut work, &[&old_sk, &new_sk]);
    env.mirror_ok(&trusted("status", &env, env.feed(), &[&old_pk]));
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&new_pk]));
    // After the rotation, only the new key signs: a replica trusting only the old one refuses.
    signed_dump(&env, &mut work, &[&new_sk]);
    refused(
        &env,
        &trusted("apply", &env, env.feed(), &[&old_pk]),
        "none of them trusted",
    );
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&old_pk, &new_pk]));
    env.assert_identical();
}

#[test]
fn an_unsigned_feed_is_refused_by_apply_import_and_status() {
    let env = Env::new("sign_unsigned");
    let keys = tempfile::tempdir().unwrap();
    let (_, pk) = keygen(&env, keys.path(), "feed");
    env.dump();
    let server = common::http::serve(env.feed.path().to_path_buf());
    for from in [env.feed(), server.base.as_str()] {
        for command in ["apply", "import", "status"] {
            refused(
                &env,
                &trusted(command, &env, from, &[&pk]),
                "the feed is not signed",
            );
        }
    }
}

#[test]
fn a_signature_by_no_trusted_key_is_refused() {
    let Signed { env, keys, .. } = signed_feed("sign_untrusted");
    let (_, other_pk) = keygen(&env, keys.path(), "other");
    let server = common::http::serve(env.feed.path().to_path_buf());
    for from in [env.feed(), server.base.as_str()] {
        for command in ["apply", "import", "status"] {
            refused(
                &env,
                &trusted(command, &env, from, &[&other_pk]),
                "none of them trusted",
            );
        }
    }
}

#[test]
fn an_altered_index_is_refused_after_one_more_fetch() {
    let Signed {
        env,
        pk,
        keys: _keys,
        ..
    } = signed_feed("sign_altered");
    let xml = feed::index(env.feed.path());
    let element = feed::packet_element(&xml, 2);
    let rows = feed::attr(&element, "rows");
    let altered = xml.replace(
        &element,
        &feed::with_attr(&element, "rows", &format!("{rows}0")),
    );
    feed::set_index(env.feed.path(), &altered);
    let (base, requests) = serve_counting(env.feed.path().to_path_buf(), None);
    for from in [env.feed(), base.as_str()] {
        for command in ["apply", "import", "status"] {
            refused(
                &env,
                &trusted(command, &env, from, &[&pk]),
                "does not match its bytes (fetched twice)",
            );
        }
    }
    // Three commands over HTTP, each fetching the index twice.
    assert_eq!(requests.load(Ordering::SeqCst), 6);
}

#[test]
fn an_index_and_signature_from_two_moments_are_fetched_again_once() {
    let Signed {
        env,
        mut work,
        sk,
        pk,
        keys: _keys,
        ..
    } = signed_feed("sign_refetch");
    let stale = std::fs::read(env.feed.path().join("index.xml")).unwrap();
    signed_dump(&env, &mut work, &[&sk]);
    // The first request for index.xml gets the index of before the last dump, as a CDN between
    // two updates would serve it with the new signature; the second gets the current one.
    let (base, requests) = serve_counting(env.feed.path().to_path_buf(), Some(stale));
    let out = env.mirror_ok(&trusted("apply", &env, &base, &[&pk]));
    assert!(out.contains("applied packets 1..=3"), "{out}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    env.assert_identical();
}

#[test]
fn another_feeds_signed_index_is_refused_by_apply_import_and_status() {
    let Signed {
        env,
        sk,
        pk,
        keys: _keys,
        ..
    } = signed_feed("sign_other_feed");
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&pk]));
    let other = Env::new("sign_other_feed2");
    other.mirror_ok(&[
        "dump",
        "--db",
        &other.master,
        "--out",
        other.feed(),
        "--empty-packets",
        "--sign-key",
        &sk,
    ]);
    other.mirror_ok(&[
        "export",
        "--db",
        &other.master,
        "--out",
        other.feed(),
        "--sign-key",
        &sk,
    ]);
    // `import --replace` is how a replica moves to a new feed; plain import refuses it.
    for command in ["apply", "status", "import"] {
        refused(
            &env,
            &trusted(command, &env, other.feed(), &[&pk]),
            "the replica follows feed",
        );
    }
}

#[test]
fn a_replayed_older_signed_index_is_refused_by_apply_import_and_status() {
    let Signed {
        env,
        mut work,
        sk,
        pk,
        keys: _keys,
        ..
    } = signed_feed("sign_replay");
    let old = tempfile::tempdir().unwrap();
    feed::copy_dir(env.feed.path(), old.path());
    signed_dump(&env, &mut work, &[&sk]);
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&pk]));
    let server = common::http::serve(old.path().to_path_buf());
    for command in ["apply", "status", "import"] {
        let mut args = trusted(command, &env, &server.base, &[&pk]);
        if command == "import" {
            args.push("--replace");
        }
        refused(
            &env,
            &args,
            "the replica is at packet 3, but the feed's newest packet is 2",
        );
    }
}

#[test]
fn an_index_older_than_max_age_is_refused() {
    let Signed {
        env,
        sk,
        pk,
        keys: _keys,
        ..
    } = signed_feed("sign_max_age");
    // Re-sign the index with a publication time in the past, as the dumper's key would have.
    let xml = feed::index(env.feed.path());
    let published = {
        let root = xml.lines().find(|l| l.contains("<replication")).unwrap();
        feed::attr(&root.replace("<replication", "<packet"), "published")
    };
    let old = xml.replace(&published, "2000-01-01T00:00:00.000000Z");
    feed::set_index(env.feed.path(), &old);
    let key = replgen_runtime::signing::load_secret(Path::new(&sk)).unwrap();
    let signature = replgen_runtime::signing::sign(old.as_bytes(), &[key]).unwrap();
    std::fs::write(env.feed.path().join("index.xml.minisig"), signature).unwrap();
    env.mirror_ok(&trusted("status", &env, env.feed(), &[&pk]));
    let server = common::http::serve(env.feed.path().to_path_buf());
    for from in [env.feed(), server.base.as_str()] {
        for command in ["apply", "import", "status"] {
            let mut args = trusted(command, &env, from, &[&pk]);
            args.extend(["--max-age", "2h"]);
            refused(&env, &args, "longer than --max-age 7200 s");
        }
    }
}

#[test]
fn keygen_never_overwrites_and_keeps_the_secret_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("sign_keygen");
    let keys = tempfile::tempdir().unwrap();
    let (sk, pk) = keygen(&env, keys.path(), "feed");
    assert_eq!(
        std::fs::metadata(&sk).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = (std::fs::read(&sk).unwrap(), std::fs::read(&pk).unwrap());
    let err = env.mirror_fails(&["keygen", "--secret-key", &sk, "--public-key", &pk], 1);
    assert!(
        err.contains(&sk) && err.contains("refusing to overwrite"),
        "{err}"
    );
    assert_eq!(
        (std::fs::read(&sk).unwrap(), std::fs::read(&pk).unwrap()),
        before
    );
}

/// Debian's minisign, installed by scripts/ensure-minisign; None (the test says it skips) when
/// it cannot be had.
fn minisign() -> Option<&'static str> {
    let found = Command::new("minisign").arg("-v").output().is_ok();
    if !found {
        eprintln!(
            "SKIPPED: the minisign tool is not installed (scripts/ensure-minisign installs it)"
        );
    }
    found.then_some("minisign")
}

#[test]
fn the_standard_minisign_tool_verifies_our_signatures_and_makes_keys_we_sign_with() {
    let Some(tool) = minisign() else { return };
    let env = Env::new("sign_tool");
    let keys = tempfile::tempdir().unwrap();
    let (ours_sk, ours_pk) = keygen(&env, keys.path(), "ours");
    let (tool_sk, tool_pk) = (keys.path().join("tool.key"), keys.path().join("tool.pub"));
    let made = Command::new(tool)
        .args(["-G", "-W", "-p"])
        .arg(&tool_pk)
        .arg("-s")
        .arg(&tool_sk)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (tool_sk, tool_pk) = (tool_sk.display().to_string(), tool_pk.display().to_string());
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 33, 0);
    signed_dump(&env, &mut work, &[&ours_sk, &tool_sk]);
    let verify = |pk: &str, sig: Option<&Path>| {
        let mut cmd = Command::new(tool);
        cmd.args(["-V", "-p", pk, "-m"])
            .arg(env.feed.path().join("index.xml"));
        if let Some(sig) = sig {
            cmd.arg("-x").arg(sig);
        }
        cmd.output().unwrap()
    };
    // The standard command checks the first block: the first --sign-key's.
    let out = verify(&ours_pk, None);
    assert!(
        out.status.success(),
        "minisign -V: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The second key's block alone, as the README shows.
    let sig = std::fs::read_to_string(env.feed.path().join("index.xml.minisig")).unwrap();
    let second: Vec<&str> = sig.lines().skip(4).take(4).collect();
    let second_file = keys.path().join("second.minisig");
    std::fs::write(&second_file, second.join("\n") + "\n").unwrap();
    let out = verify(&tool_pk, Some(&second_file));
    assert!(
        out.status.success(),
        "minisign -V -x: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A changed byte fails the standard tool too.
    let xml = feed::index(env.feed.path());
    feed::set_index(env.feed.path(), &xml.replacen("rows=\"", "rows=\"1", 1));
    assert!(!verify(&ours_pk, None).status.success());
    feed::set_index(env.feed.path(), &xml);
    // The tool's key alone signs a feed our replica verifies.
    signed_dump(&env, &mut work, &[&tool_sk]);
    env.mirror_ok(&trusted("apply", &env, env.feed(), &[&tool_pk]));
    env.assert_identical();
    // A signature the tool made itself over our index verifies too.
    std::fs::remove_file(env.feed.path().join("index.xml.minisig")).unwrap();
    let signed = Command::new(tool)
        .args(["-S", "-s", &tool_sk, "-m"])
        .arg(env.feed.path().join("index.xml"))
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    env.mirror_ok(&trusted("status", &env, env.feed(), &[&tool_pk]));
}

/// A static file server that counts requests for index.xml, serving `first_index` (when given)
/// to the first of them.
fn serve_counting(root: PathBuf, first_index: Option<Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = if path == "index.xml" {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                match (&first_index, n) {
                    (Some(first), 0) => Some(first.clone()),
                    _ => std::fs::read(root.join(&path)).ok(),
                }
            } else {
                std::fs::read(root.join(&path)).ok()
            };
            match body {
                Some(body) if !path.contains("..") => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                _ => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (base, count)
}

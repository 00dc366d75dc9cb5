//! Issue 14: a feed in object storage. Against a real S3-compatible server on 127.0.0.1
//! (`s3s-fs`, see tests/common/s3.rs): dump, export, import, apply and status through `s3://`,
//! the dumper killed at every crash point and at random instants, and recovery from what the
//! bucket holds (an object uploaded by a cut that never committed is removed; a lost prefix is
//! refused as a lost folder is).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::s3::{self, objects};
use common::workload::Rng;
use common::{feed, Ended, Env, Workload};
use sha2::Digest;

fn changes(env: &Env, seed: u64, statements: usize) {
    let mut master = env.connect_master();
    Workload::new(&mut master, &env.schema, seed, 0).run(&mut master, statements, true);
}

/// Every listed packet and export file is in the bucket with its listed size and sha256, and
/// every object under packets/ is listed: the bucket holds nothing unlisted.
fn assert_bucket_intact(dir: &Path) {
    let xml = feed::index(dir);
    let check = |path: &str, size: &str, sha: &str| {
        let bytes =
            std::fs::read(dir.join(path)).unwrap_or_else(|_| panic!("listed {path} is missing"));
        assert_eq!(bytes.len().to_string(), size, "{path}: size");
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            sha,
            "{path}: sha256"
        );
    };
    let mut listed = HashSet::new();
    for element in xml
        .split('<')
        .filter(|e| e.starts_with("packet ") || e.starts_with("export "))
    {
        let element = format!("<{element}");
        let path = feed::attr(&element, "path");
        check(
            &path,
            &feed::attr(&element, "size"),
            &feed::attr(&element, "sha256"),
        );
        listed.insert(path);
    }
    for object in objects(dir) {
        assert!(
            !object.starts_with("packets/") || listed.contains(&object),
            "{object} is in the bucket but not listed"
        );
        assert!(
            !object.contains(".replgen-tmp"),
            "{object}: a temporary object"
        );
    }
}

fn unlisted_packets(dir: &Path) -> Vec<String> {
    let xml = feed::index(dir);
    objects(dir)
        .into_iter()
        .filter(|o| o.starts_with("packets/") && !xml.contains(&format!("path=\"{o}\"")))
        .collect()
}

#[test]
fn dump_export_import_apply_and_status_through_s3() {
    let server = s3::server();
    let env = Env::new("s3_end_to_end");
    let (url, dir) = server.bucket("end-to-end", "feeds/main");
    changes(&env, 1, 60);
    env.mirror_ok(&["export", "--db", &env.master, "--out", &url]);
    changes(&env, 2, 60);
    env.mirror_ok(&["dump", "--db", &env.master, "--out", &url]);
    assert_bucket_intact(&dir);
    assert!(objects(&dir).iter().any(|o| o.ends_with("/manifest.xml")));

    env.mirror_ok(&["import", "--db", &env.replica, "--from", &url]);
    env.mirror_ok(&["apply", "--db", &env.replica, "--from", &url]);
    env.assert_identical();
    changes(&env, 3, 60);
    env.mirror_ok(&["dump", "--db", &env.master, "--out", &url]);
    let status = env.mirror_ok(&["status", "--db", &env.replica, "--from", &url, "--json"]);
    assert!(
        status.contains("\"newest_serial\":3") || status.contains("3"),
        "{status}"
    );
    env.mirror_ok(&["apply", "--db", &env.replica, "--from", &url]);
    env.assert_identical();
    env.mirror_ok(&[
        "status",
        "--db",
        &env.replica,
        "--from",
        &url,
        "--max-lag",
        "1h",
    ]);
    assert_bucket_intact(&dir);

    // Signed: the signature object goes up with the index, and replicas check it.
    let keys = tempfile::tempdir().unwrap();
    let (sk, pk) = (keys.path().join("feed.key"), keys.path().join("feed.pub"));
    let (sk, pk) = (sk.to_str().unwrap(), pk.to_str().unwrap());
    env.mirror_ok(&["keygen", "--secret-key", sk, "--public-key", pk]);
    changes(&env, 4, 30);
    env.mirror_ok(&["dump", "--db", &env.master, "--out", &url, "--sign-key", sk]);
    assert!(dir.join("index.xml.minisig").is_file());
    env.mirror_ok(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        &url,
        "--trust-key",
        pk,
    ]);
    env.assert_identical();
    assert_bucket_intact(&dir);
}

/// A cut or export killed after uploading under the final name, before its commit, leaves an
/// unlisted object; the next dumper removes it. Killed after the commit, the next dumper lists
/// what was uploaded. Then dumpers killed at random instants under concurrent writes.
#[test]
fn killed_dumpers_recover_from_what_the_bucket_holds() {
    let server = s3::server();
    let env = Env::new("s3_crash");
    let (url, dir) = server.bucket("crash", "feed");
    let dump = ["dump", "--db", &env.master, "--out", &url];
    let export = ["export", "--db", &env.master, "--out", &url];
    let mut seed = 10;
    for (args, point) in [
        (&dump, "dump-mid-packet"),
        (&dump, "dump-before-commit"),
        (&dump, "dump-after-commit"),
        (&dump, "dump-after-publish"),
        (&export, "export-before-commit"),
        (&export, "export-after-commit"),
    ] {
        seed += 1;
        changes(&env, seed, 40);
        // What the killed dumper staged locally stays until the next dumper removes it.
        let tmp = tempfile::tempdir().unwrap();
        common::crash_at_in(point, args, tmp.path());
        if point == "dump-before-commit" {
            // The packet went up before the commit that never came.
            assert_eq!(
                unlisted_packets(&dir).len(),
                1,
                "{point}: {:?}",
                objects(&dir)
            );
        }
        let next = std::process::Command::new(common::mirror_bin())
            .args(dump)
            .env_remove("DATABASE_URL")
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert!(next.status.success(), "{point}: {next:?}");
        assert_eq!(
            common::names_in(tmp.path()),
            Vec::<String>::new(),
            "{point}: the next dumper leaves the killed one's staging folder"
        );
        assert_bucket_intact(&dir);
    }

    let writers = common::Writers::start(&env, 2, 300);
    let mut rng = Rng::new(7);
    let started = Instant::now();
    env.mirror_ok(&dump);
    let mut run = started.elapsed();
    let (mut killed, mut rounds) = (0, 0);
    while killed < 12 && rounds < 400 {
        if rounds % 4 == 0 {
            let started = Instant::now();
            env.mirror_ok(&dump);
            run = started.elapsed();
            assert_bucket_intact(&dir);
        }
        let delay = Duration::from_micros(rng.below(run.as_micros().max(1) as u64));
        if let Ended::Killed = common::run_killed_after(common::mirror_bin(), &dump, delay) {
            killed += 1;
        }
        rounds += 1;
    }
    writers.stop();
    assert_eq!(
        killed, 12,
        "only {killed} of {rounds} dumpers were killed mid-run"
    );
    env.mirror_ok(&dump);
    assert_bucket_intact(&dir);
    env.mirror_ok(&["import", "--db", &env.replica, "--from", &url]);
    // Appliers reading from the bucket, killed at apply's crash points, then one that finishes.
    let apply = ["apply", "--db", &env.replica, "--from", &url];
    for point in ["apply-staged", "apply-before-commit", "apply-after-commit"] {
        changes(&env, 40, 40);
        env.mirror_ok(&dump);
        common::crash_at(point, &apply);
    }
    env.mirror_ok(&apply);
    env.assert_identical();
}

/// An object in packets/ that no cut recorded (what a cut killed before its commit leaves) is
/// removed by the next dumper; older, pruned packets are kept.
#[test]
fn an_unrecorded_object_is_removed_and_a_lost_prefix_is_refused() {
    let server = s3::server();
    let env = Env::new("s3_recovery");
    let (url, dir) = server.bucket("recovery", "feed");
    let dump = ["dump", "--db", &env.master, "--out", &url];
    changes(&env, 20, 30);
    env.mirror_ok(&dump);
    let listed = feed::attr(&feed::packet_element(&feed::index(&dir), 1), "path");
    // Serial 2 at a time no cut of this test has (a cut in the same second would have this
    // very key, and replace the stray legitimately).
    let (folder, _) = listed.rsplit_once('/').unwrap();
    let stray = format!("{folder}/replication-000000002-20000101T000000Z.gz");
    std::fs::copy(dir.join(&listed), dir.join(&stray)).unwrap();
    assert_eq!(unlisted_packets(&dir), std::slice::from_ref(&stray));
    changes(&env, 21, 30);
    env.mirror_ok(&dump);
    assert!(!dir.join(&stray).exists(), "{stray} was left in the bucket");
    assert_bucket_intact(&dir);

    // A listed packet gone from the bucket: refused, naming it (no local copy stands in).
    let first = feed::attr(&feed::packet_element(&feed::index(&dir), 1), "path");
    let kept = std::fs::read(dir.join(&first)).unwrap();
    std::fs::remove_file(dir.join(&first)).unwrap();
    let err = env.mirror_fails(&dump, 1);
    assert!(
        err.contains(&url) && err.contains(&first) && err.contains("missing"),
        "{err}"
    );
    std::fs::write(dir.join(&first), kept).unwrap();
    env.mirror_ok(&dump);

    // The prefix lost (emptied, or the wrong --out): refused, naming it, nothing cut.
    std::fs::remove_dir_all(&dir).unwrap();
    changes(&env, 22, 30);
    let err = env.mirror_fails(&dump, 1);
    assert!(err.contains(&url) && err.contains("no index.xml"), "{err}");
    assert!(env.pending_changes() > 0);
    // A new feed there is the way out, as for a folder.
    env.mirror_ok(&["export", "--db", &env.master, "--out", &url, "--new-feed"]);
    env.mirror_ok(&dump);
    assert_bucket_intact(&dir);
}

/// A bucket that does not exist: one plain sentence naming it, and never the secret key.
#[test]
fn errors_name_the_bucket_and_never_the_secret() {
    let server = s3::server();
    let env = Env::new("s3_errors");
    let _ = server;
    changes(&env, 30, 10);
    let err = env.mirror_fails(
        &[
            "dump",
            "--db",
            &env.master,
            "--out",
            "s3://no-such-bucket/feed",
        ],
        1,
    );
    assert!(err.contains("s3://no-such-bucket/feed"), "{err}");
    assert!(!err.contains(s3::SECRET_KEY), "{err}");
    let err = env.mirror_fails(
        &[
            "status",
            "--db",
            &env.replica,
            "--from",
            "s3://no-such-bucket/feed",
        ],
        1,
    );
    assert!(err.contains("s3://no-such-bucket/feed"), "{err}");
    assert!(!err.contains(s3::SECRET_KEY), "{err}");
}

/// A file beyond one request's size goes up in parts, and reads back byte for byte, streamed.
#[test]
fn a_large_file_is_uploaded_in_parts_and_read_back_whole() {
    use std::io::{Read, Write};
    let server = s3::server();
    let (url, dir) = server.bucket("large", "feed");
    let mut rng = Rng::new(3);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut hasher = sha2::Sha256::new();
    // 40 MiB: three parts of 16 MiB, the last one short.
    for _ in 0..40 {
        let chunk: Vec<u8> = (0..1 << 20).map(|_| rng.below(256) as u8).collect();
        hasher.update(&chunk);
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    let expected = hex::encode(hasher.finalize());
    let bucket = std::sync::Arc::new(replgen_runtime::bucket::Bucket::open(&url).unwrap());
    bucket.upload("packets/big.gz", file.path()).unwrap();
    let on_disk = std::fs::read(dir.join("packets/big.gz")).unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&on_disk)), expected);
    assert_eq!(bucket.head("packets/big.gz").unwrap(), Some(40 << 20));
    let mut streamed = Vec::new();
    bucket
        .reader("packets/big.gz")
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&streamed)), expected);
    assert_eq!(bucket.list("packets").unwrap(), ["packets/big.gz"]);
    bucket.delete("packets/big.gz").unwrap();
    assert_eq!(bucket.head("packets/big.gz").unwrap(), None);
}

/// Packets pruned from the index stay in the bucket, as in a folder (recovery never takes them
/// for leftovers), unless `--delete-pruned` deletes them.
#[test]
fn pruned_packets_are_kept_unless_deleted() {
    let server = s3::server();
    let env = Env::new("s3_pruned");
    let (url, dir) = server.bucket("pruned", "feed");
    let dump = ["dump", "--db", &env.master, "--out", &url, "--keep", "1"];
    for seed in 50..53 {
        changes(&env, seed, 20);
        env.mirror_ok(&dump);
    }
    let packets = |dir: &Path| {
        objects(dir)
            .into_iter()
            .filter(|o| o.starts_with("packets/"))
            .count()
    };
    assert_eq!(packets(&dir), 3);
    assert_eq!(unlisted_packets(&dir).len(), 2);
    // Packets 1 and 2 were forgotten when they left the index; packet 3 leaves it now, deleted.
    changes(&env, 53, 20);
    env.mirror_ok(&[&dump[..], &["--delete-pruned"]].concat());
    assert_eq!(packets(&dir), 3, "{:?}", objects(&dir));
    let unlisted = unlisted_packets(&dir);
    assert!(
        unlisted.len() == 2
            && unlisted[0].contains("replication-000000001-")
            && unlisted[1].contains("replication-000000002-"),
        "{unlisted:?}"
    );
}

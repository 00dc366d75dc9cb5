//! What the mirror binary reports when something is wrong: the real cause, never a guess, and
//! machine-readable output that stays valid whatever the values.

mod common;

use common::{Env, Workload};

/// A role that may connect but not read replgen's schema gets "permission denied", not the
/// advice to install capture on a database that has it.
#[test]
fn a_permission_problem_is_not_reported_as_missing_capture() {
    let env = Env::new("diag_permission");
    let mut master = env.connect_master();
    let role = replgen_testkit::Cluster::unique_name("nopriv");
    master
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .unwrap();
    let as_role = env.master.replace("user=postgres", &format!("user={role}"));
    assert_ne!(as_role, env.master);
    let err = env.mirror_fails(&["dump", "--db", &as_role, "--out", env.feed()], 1);
    assert!(err.contains("permission denied"), "{err}");
    assert!(!err.contains("not installed"), "{err}");
    // A database without capture is still told exactly that.
    let bare = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("diag_bare"));
    let err = env.mirror_fails(&["dump", "--db", &bare, "--out", env.feed()], 1);
    assert!(err.contains("change capture is not installed"), "{err}");
}

/// `status --json` is one valid JSON object even when a stored value holds quotes, backslashes
/// and control characters.
#[test]
fn status_json_is_valid_whatever_the_values() {
    let env = Env::new("diag_status");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 3, 0);
    work.run(&mut master, 20, false);
    env.dump();
    env.apply();
    let hostile = "2026-\u{1}\"quoted\"\\back\tslash\u{7f}";
    env.connect_replica()
        .execute(
            "UPDATE replgen.replica_state SET packet_created = $1",
            &[&hostile],
        )
        .unwrap();
    let out = env.mirror_ok(&[
        "status",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("status --json printed invalid JSON ({e}): {out}"));
    assert_eq!(value["packet_created"], hostile);
    assert_eq!(value["serial"], 1);
    assert_eq!(value["packets_behind"], 0);
}

/// A column re-typed on the master without a new layout: the cut refuses, naming table and
/// column, and keeps the pending changes (before: it published a value every replica refused
/// forever, "5000000000 is out of range for type integer").
#[test]
fn a_cut_refuses_live_tables_that_left_the_layout() {
    let env = Env::new("diag_live");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 4, 0);
    work.run(&mut master, 20, false);
    env.dump();
    env.apply();
    master
        .batch_execute(
            "ALTER TABLE artist ALTER COLUMN edits_pending TYPE bigint; \
             UPDATE artist SET edits_pending = 5000000000 WHERE id = (SELECT min(id) FROM artist)",
        )
        .unwrap();
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains(
            "public.artist.edits_pending: the column is bigint, but the layout says integer"
        ),
        "{err}"
    );
    // Back in the layout (the value too), the pending change goes out.
    master
        .batch_execute(
            "UPDATE artist SET edits_pending = 7 WHERE edits_pending = 5000000000; \
             ALTER TABLE artist ALTER COLUMN edits_pending TYPE integer",
        )
        .unwrap();
    assert!(env.dump().starts_with("packet 2: "));
    env.apply();
    env.assert_identical();
}

/// `install` checks the live tables first and names every column that is not the layout's.
#[test]
fn install_refuses_tables_that_are_not_the_layout() {
    let env = Env::new("diag_install");
    let fresh = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("diag_install_fresh"));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    let mut client = postgres::Client::connect(&fresh, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE artist DROP COLUMN comment; \
             ALTER TABLE area ALTER COLUMN name DROP NOT NULL; \
             ALTER TABLE area ALTER COLUMN comment TYPE varchar(300)",
        )
        .unwrap();
    let err = env.mirror_fails(&["install", "--db", &fresh], 1);
    assert!(
        err.contains("public.artist: column comment does not exist"),
        "{err}"
    );
    assert!(
        err.contains("public.area.name: the column allows NULL"),
        "{err}"
    );
    // Another type modifier is another type: longer values would stop every replica.
    assert!(
        err.contains(
            "public.area.comment: the column is character varying(300), but the layout says character varying(255)"
        ),
        "{err}"
    );
    let installed: bool = client
        .query_one("SELECT to_regclass('replgen.meta') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!installed, "a refused install changes nothing");
}

/// A key under a non-deterministic collation (case-insensitive, say) is refused by install (and
/// by the cut, which runs the same check), naming column and collation: a key changed to a
/// spelling it calls equal fired no key change, and the replica kept both spellings (found by a
/// hostile review).
#[test]
fn a_key_under_a_nondeterministic_collation_is_refused() {
    let env = Env::new("diag_collation");
    let fresh = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name(
            "diag_collation_fresh",
        ));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    let mut client = postgres::Client::connect(&fresh, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false); \
             ALTER TABLE replication_control_note ALTER COLUMN code TYPE text COLLATE ci",
        )
        .unwrap();
    let err = env.mirror_fails(&["install", "--db", &fresh], 1);
    assert!(
        err.contains("public.replication_control_note.code: the key column uses the non-deterministic collation ci"),
        "{err}"
    );
    // A deterministic one, however it sorts, is one key for one spelling: accepted.
    client
        .batch_execute(
            "CREATE COLLATION de (provider = icu, locale = 'de'); \
             ALTER TABLE replication_control_note ALTER COLUMN code TYPE text COLLATE de",
        )
        .unwrap();
    env.mirror_ok(&["install", "--db", &fresh]);
}

/// A temporary folder too small for a download is named as the problem, not the packet being
/// downloaded (an operator would look at the feed's disk). Files are limited to 4 blocks here,
/// with SIGXFSZ ignored, so the write fails as on a full disk.
#[test]
fn a_download_that_does_not_fit_in_tmpdir_names_tmpdir() {
    let env = Env::new("diag_tmpdir");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 41, 0);
    work.run(&mut master, 400, true);
    env.dump();
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 4 && exec \"$0\" apply --db \"$1\" --from \"$2\"",
        ])
        .args([common::mirror_bin(), &env.replica, env.feed()])
        .env_remove("DATABASE_URL")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("a temporary file in {}", tmp.path().display())),
        "{stderr}"
    );
    assert_eq!(env.replica_position(), None, "{stderr}");
}

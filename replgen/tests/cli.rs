//! The CLI end to end: `check` on the committed project outputs, and `introspect` → `generate`
//! → install on a real database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replgen_testkit::Cluster;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn replgen(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn check_passes_on_the_committed_outputs_and_fails_with_a_diff_after_an_edit() {
    let out = replgen(&root(), &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(root().join("schema.yaml"), d.join("schema.yaml")).unwrap();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    copy_dir(&root().join("migrations"), &d.join("migrations"));
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::copy(
        root().join("src/replicated.rs"),
        d.join("src/replicated.rs"),
    )
    .unwrap();
    let out = replgen(d, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let yaml = std::fs::read_to_string(d.join("schema.yaml")).unwrap();
    let edited = yaml.replacen(
        "name: sort_name,     type: varchar }",
        "name: sort_name,     type: text }",
        1,
    );
    assert_ne!(edited, yaml, "the edit applies");
    std::fs::write(d.join("schema.yaml"), edited).unwrap();
    // Against the committed history, a layout change without a bump is bad input.
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bump schema_version to 2"));
    // Without a history (a project adopting replgen), check reports the stale outputs.
    std::fs::remove_dir_all(d.join("migrations/layouts")).unwrap();
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(diff.contains("src/replicated.rs (on disk)"), "{diff}");
    assert!(
        diff.contains("-    pub sort_name: String,") || diff.contains("fingerprint"),
        "{diff}"
    );
    assert!(diff.contains("+VALUES (true, 1, '"), "{diff}");
    // Generate brings it back in line; a second generate writes nothing.
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
    let out = replgen(d, &["generate"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("up to date"));
    // A missing output is a difference too.
    std::fs::remove_file(d.join("migrations/uninstall/replgen_uninstall.sql")).unwrap();
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(missing)"));
}

#[test]
fn introspect_generate_install_round_trip() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/introspect");
    let cluster = Cluster::start();
    let url = cluster.create_database("intro");
    let mut client = cluster.connect("intro");
    client
        .batch_execute(&std::fs::read_to_string(here.join("tables.sql")).unwrap())
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = replgen(d, &["introspect", "--db", &url, "--schema-version", "4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("skipping table public.no_key"), "{stderr}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("REPLGEN_BLESS").is_some() {
        std::fs::write(here.join("expected.yaml"), &yaml).unwrap();
    }
    assert_eq!(
        yaml,
        std::fs::read_to_string(here.join("expected.yaml")).unwrap()
    );

    std::fs::write(d.join("schema.yaml"), &yaml).unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let install = std::fs::read_to_string(d.join("migrations/V4__replgen_capture.sql")).unwrap();
    client.batch_execute(&install).unwrap();
    client
        .batch_execute(
            "INSERT INTO artist_credit_name VALUES (1, 2, 'x');
             UPDATE artist_credit_name SET position = 3;
             INSERT INTO \"Code Table\" VALUES ('a b', 'c');
             INSERT INTO mb.artist_gid_redirect VALUES (gen_random_uuid(), 1);
             INSERT INTO everything (id, small, m, fl) VALUES (1, 1, 'happy', '{native}');
             DELETE FROM everything;",
        )
        .unwrap();
    let n: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM replgen.log_1) + (SELECT count(*) FROM replgen.log_2)
                  + (SELECT count(*) FROM replgen.log_3) + (SELECT count(*) FROM replgen.log_4)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1 + 1 + 1 + 3 + 1 + 1);
    let k: String = client
        .query_one(
            "SELECT u.k1::text || ',' || u.k2::text FROM replgen.log_3 l, unnest(l.k1, l.k2) AS u(k1, k2) \
             WHERE l.ord % 4 = 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        k, "3,1",
        "composite key in key order (position, artist_credit)"
    );

    // Named tables: only those; a named table without a key is an error (exit 2).
    let out = replgen(
        d,
        &[
            "introspect",
            "--db",
            &url,
            "--tables",
            "artist_credit_name,mb.artist_gid_redirect",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("name: artist_credit_name") && yaml.contains("name: mb.artist_gid_redirect")
    );
    assert!(!yaml.contains("name: everything"), "{yaml}");
    let out = replgen(d, &["introspect", "--db", &url, "--tables", "no_key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_key has no primary key"));
    let out = replgen(d, &["introspect", "--db", &url, "--tables", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A database that does not exist: the message names it, its server and the server's words,
/// and never the password given.
#[test]
fn introspect_of_a_missing_database_says_which_and_why() {
    let cluster = Cluster::start();
    let url = format!("{} password=s3cret", cluster.url("no_such_db"));
    let dir = tempfile::tempdir().unwrap();
    let out = replgen(dir.path(), &["introspect", "--db", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("database no_such_db on ")
            && stderr.contains(&format!("{}", cluster.socket_dir().display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("database \"no_such_db\" does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

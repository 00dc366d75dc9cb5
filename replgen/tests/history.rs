//! The layout history through the CLI: a bump adds files and leaves the old ones byte for byte;
//! a change without a bump is refused (exit 2) and writes nothing; `check` finds a tampered
//! earlier migration; sqlx naming with a chosen number.

use std::path::Path;
use std::process::{Command, Output};

fn replgen(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

const V1: &str = "schema_version: 1
tables:
  - id: 1
    name: artist
    columns:
      - { name: id, type: integer }
      - { name: name, type: text }
";

#[test]
fn bump_adds_a_version_and_never_rewrites_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    std::fs::write(d.join("schema.yaml"), V1).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let m1 = std::fs::read(d.join("migrations/V1__replgen_capture.sql")).unwrap();
    let l1 = std::fs::read(d.join("migrations/layouts/v1.yaml")).unwrap();
    let rust1 = std::fs::read(d.join("src/replicated.rs")).unwrap();

    // A change without a bump: exit 2, names the version, writes nothing.
    let changed = V1.replace("type: text", "type: varchar");
    std::fs::write(d.join("schema.yaml"), &changed).unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema_version 1") && err.contains("bump"),
        "{err}"
    );
    assert_eq!(std::fs::read(d.join("src/replicated.rs")).unwrap(), rust1);
    assert!(!d.join("migrations/layouts/v2.yaml").exists());

    // Bumped: a new migration and layout; the old ones untouched.
    std::fs::write(
        d.join("schema.yaml"),
        changed.replace("schema_version: 1", "schema_version: 2"),
    )
    .unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(d.join("migrations/V1__replgen_capture.sql")).unwrap(),
        m1
    );
    assert_eq!(
        std::fs::read(d.join("migrations/layouts/v1.yaml")).unwrap(),
        l1
    );
    assert!(d.join("migrations/V2__replgen_capture.sql").is_file());
    let rust2 = std::fs::read_to_string(d.join("src/replicated.rs")).unwrap();
    assert!(rust2.contains("V2__replgen_capture.sql"), "{rust2}");
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));

    // A lower version than the newest published: exit 2.
    std::fs::write(d.join("schema.yaml"), V1).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(2));
    std::fs::write(
        d.join("schema.yaml"),
        changed.replace("schema_version: 1", "schema_version: 2"),
    )
    .unwrap();

    // A tampered earlier migration or layout: check exits 1.
    let mut bad = m1.clone();
    bad.extend_from_slice(b"-- edited\n");
    std::fs::write(d.join("migrations/V1__replgen_capture.sql"), &bad).unwrap();
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("V1__replgen_capture.sql"));
    std::fs::write(d.join("migrations/V1__replgen_capture.sql"), &m1).unwrap();
    let l1_text = String::from_utf8(l1.clone()).unwrap();
    std::fs::write(
        d.join("migrations/layouts/v1.yaml"),
        l1_text.replace("type: text", "type: bytea"),
    )
    .unwrap();
    assert_eq!(replgen(d, &["check"]).status.code(), Some(1));
    std::fs::write(d.join("migrations/layouts/v1.yaml"), &l1).unwrap();
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));

    // The earliest layout deleted: refused, not quietly dropped from the history.
    std::fs::remove_file(d.join("migrations/layouts/v1.yaml")).unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is gone"));
    std::fs::write(d.join("migrations/layouts/v1.yaml"), &l1).unwrap();
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
}

#[test]
fn a_rename_names_the_previous_versions_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    std::fs::write(d.join("schema.yaml"), V1).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let v2 = |from: &str| {
        V1.replace("schema_version: 1", "schema_version: 2")
            .replace(
                "{ name: name, type: text }",
                &format!("{{ name: title, type: text, renamed_from: {from} }}"),
            )
    };
    // A name version 1 does not have: exit 2, naming table, column and version; nothing written.
    std::fs::write(d.join("schema.yaml"), v2("nmae")).unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column title of table artist")
            && err.contains("\"nmae\"")
            && err.contains("schema_version 1"),
        "{err}"
    );
    assert!(!d.join("migrations/layouts/v2.yaml").exists());
    // The rename: recorded in version 2's layout, which the next version's binaries read.
    std::fs::write(d.join("schema.yaml"), v2("name")).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let layout = std::fs::read_to_string(d.join("migrations/layouts/v2.yaml")).unwrap();
    assert!(
        layout.contains("{ name: title, type: text, renamed_from: name }"),
        "{layout}"
    );
    // Left in schema.yaml at version 3, it names a rename version 2 already has: accepted.
    std::fs::write(
        d.join("schema.yaml"),
        v2("name").replace("schema_version: 2", "schema_version: 3"),
    )
    .unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
}

#[test]
fn sqlx_naming_with_a_chosen_number() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    let y = V1.replace(
        "schema_version: 1\n",
        "schema_version: 1\nmigrations: { style: sqlx, number: 20260101000000 }\n",
    );
    std::fs::write(d.join("schema.yaml"), &y).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    assert!(d
        .join("migrations/20260101000000_replgen_capture.sql")
        .is_file());
    // Bumped without a higher number: refused, since it would not sort after version 1.
    let y2 = y
        .replace("schema_version: 1", "schema_version: 2")
        .replace("type: text", "type: varchar");
    std::fs::write(d.join("schema.yaml"), &y2).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(2));
    let out = replgen(d, &["generate", "--migration-number", "20260201000000"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d
        .join("migrations/20260201000000_replgen_capture.sql")
        .is_file());
}

/// What an older replgen published for schema_version `v`: its install migration with other
/// bytes (here, one more comment line), recorded in the layout file as published.
fn publish_as_an_older_replgen(d: &Path, migration: &str, v: u32) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let path = d.join("migrations").join(migration);
    let fresh = std::fs::read(&path).unwrap();
    let mut older = b"-- written by an older replgen\n".to_vec();
    older.extend_from_slice(&fresh);
    std::fs::write(&path, &older).unwrap();
    let layout = d.join(format!("migrations/layouts/v{v}.yaml"));
    let text = std::fs::read_to_string(&layout).unwrap();
    let text = text.replace(
        &hex::encode(Sha256::digest(&fresh)),
        &hex::encode(Sha256::digest(&older)),
    );
    std::fs::write(&layout, text).unwrap();
    older
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_newer_replgens_capture_is_a_revision_and_the_published_migration_stays() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    std::fs::write(d.join("schema.yaml"), V1).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let fresh = std::fs::read(d.join("migrations/V1__replgen_capture.sql")).unwrap();
    let older = publish_as_an_older_replgen(d, "V1__replgen_capture.sql", 1);
    // The application's own migration in the same folder: the revision sorts after it too.
    std::fs::write(d.join("migrations/V7__add_index.sql"), "SELECT 1;\n").unwrap();

    // check: out of date, nothing written.
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!d
        .join("migrations/V8__replgen_capture_revision.sql")
        .exists());

    // generate: the published migration stays byte for byte; the revision is the fresh capture.
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.join("migrations/V1__replgen_capture.sql")).unwrap(),
        older
    );
    assert_eq!(
        std::fs::read(d.join("migrations/V8__replgen_capture_revision.sql")).unwrap(),
        fresh
    );
    let layout = std::fs::read_to_string(d.join("migrations/layouts/v1.yaml")).unwrap();
    assert!(
        layout.contains("migration: { file: V1__replgen_capture.sql")
            && layout.contains("revisions:\n  - { file: V8__replgen_capture_revision.sql"),
        "{layout}"
    );
    let rust = std::fs::read_to_string(d.join("src/replicated.rs")).unwrap();
    assert!(rust.contains("V8__replgen_capture_revision.sql"), "{rust}");
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
    let out = replgen(d, &["generate"]);
    assert!(stderr(&out).contains("up to date"), "{}", stderr(&out));

    // An edited revision is out of date, as the current version's migration always was.
    std::fs::write(
        d.join("migrations/V8__replgen_capture_revision.sql"),
        b"-- x\n",
    )
    .unwrap();
    let out = replgen(d, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("V8__replgen_capture_revision.sql"), "{diff}");
    std::fs::write(
        d.join("migrations/V8__replgen_capture_revision.sql"),
        &fresh,
    )
    .unwrap();

    // The next version's default number sorts after the revision.
    std::fs::write(
        d.join("schema.yaml"),
        V1.replace("schema_version: 1", "schema_version: 2")
            .replace("type: text", "type: varchar"),
    )
    .unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(d.join("migrations/V9__replgen_capture.sql").is_file());
    assert_eq!(
        std::fs::read(d.join("migrations/V1__replgen_capture.sql")).unwrap(),
        older
    );
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
}

#[test]
fn a_revision_of_a_chosen_number_needs_a_number_after_every_migration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    let y = V1.replace(
        "schema_version: 1\n",
        "schema_version: 1\nmigrations: { style: sqlx, number: 20260101000000 }\n",
    );
    std::fs::write(d.join("schema.yaml"), &y).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let older = publish_as_an_older_replgen(d, "20260101000000_replgen_capture.sql", 1);
    let rust = std::fs::read(d.join("src/replicated.rs")).unwrap();

    // The application numbers its migrations: replgen cannot guess one; exit 2, nothing written.
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--migration-number") && stderr(&out).contains("revision"),
        "{}",
        stderr(&out)
    );
    let out = replgen(d, &["generate", "--migration-number", "20250101000000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("greater than 20260101000000"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(d.join("src/replicated.rs")).unwrap(), rust);
    assert_eq!(std::fs::read_dir(d.join("migrations")).unwrap().count(), 3);

    let out = replgen(d, &["generate", "--migration-number", "20261201000000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(d
        .join("migrations/20261201000000_replgen_capture_revision.sql")
        .is_file());
    assert_eq!(
        std::fs::read(d.join("migrations/20260101000000_replgen_capture.sql")).unwrap(),
        older
    );
    // Later runs, with schema.yaml's own number or the revision's, are up to date.
    assert_eq!(replgen(d, &["check"]).status.code(), Some(0));
    let out = replgen(d, &["check", "--migration-number", "20261201000000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_name_another_table_still_holds_or_frees_too_late_is_refused() {
    let two = "schema_version: 1
tables:
  - id: 1
    name: x
    columns: [{ name: id, type: integer }]
  - id: 5
    name: y
    columns: [{ name: id, type: integer }]
";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Cargo.toml"), "").unwrap();
    std::fs::write(d.join("schema.yaml"), two).unwrap();
    assert_eq!(replgen(d, &["generate"]).status.code(), Some(0));
    let next = |body: &str| format!("schema_version: 2\ntables:\n{body}");
    let refused = |body: &str, wanted: &str| {
        std::fs::write(d.join("schema.yaml"), next(body)).unwrap();
        let out = replgen(d, &["generate"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(wanted), "{}", stderr(&out));
        assert!(!d.join("migrations/layouts/v2.yaml").exists());
    };
    // A swap, and a chain (x takes y's name, y moves on to w).
    refused(
        "  - { id: 1, name: y, columns: [{ name: id, type: integer }] }\n  - { id: 5, name: x, columns: [{ name: id, type: integer }] }\n",
        "is renamed x",
    );
    refused(
        "  - { id: 1, name: y, columns: [{ name: id, type: integer }] }\n  - { id: 5, name: w, columns: [{ name: id, type: integer }] }\n",
        "is renamed w",
    );
    // y dropped and a new table of its name under a lower id: the mirror would create it first.
    refused(
        "  - { id: 1, name: x, columns: [{ name: id, type: integer }] }\n  - { id: 3, name: y, columns: [{ name: id, type: integer }] }\n",
        "id above 5",
    );
    // Under a higher id, the drop comes first: accepted.
    std::fs::write(
        d.join("schema.yaml"),
        next("  - { id: 1, name: x, columns: [{ name: id, type: integer }] }\n  - { id: 6, name: y, columns: [{ name: id, type: integer }] }\n"),
    )
    .unwrap();
    let out = replgen(d, &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

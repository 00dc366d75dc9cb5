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

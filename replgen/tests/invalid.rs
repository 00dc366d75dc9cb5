//! Every invalid schema in tests/invalid/ is refused by `replgen generate` with exit code 2, the
//! exact errors of the `.stderr` file beside it (file:line:column: message), and nothing written.
//! `REPLGEN_BLESS=1` rewrites the `.stderr` files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_invalid_schema_is_refused_with_located_errors() {
    let cases = cases();
    assert!(
        cases.len() >= 25,
        "expected the invalid cases, found {}",
        cases.len()
    );
    let bless = std::env::var_os("REPLGEN_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let file = case.file_name().unwrap().to_str().unwrap().to_string();
        let out_dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_replgen"))
            .current_dir(case.parent().unwrap())
            .args(["generate", "--schema", &file, "--sql-out"])
            .arg(out_dir.path().join("migrations"))
            .arg("--rust-out")
            .arg(out_dir.path().join("src/replicated.rs"))
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let expected_path = case.with_extension("stderr");
        if output.status.code() != Some(2) {
            failures.push(format!(
                "{file}: exit code {:?}, expected 2; stderr:\n{stderr}",
                output.status.code()
            ));
        }
        if std::fs::read_dir(out_dir.path()).unwrap().next().is_some() {
            failures.push(format!("{file}: something was written"));
        }
        // Every error line names this file with a line and a column.
        for line in stderr.lines().filter(|l| !l.starts_with("replgen:")) {
            let rest = line
                .strip_prefix(&format!("{file}:"))
                .unwrap_or_else(|| panic!("{file}: line without location: {line}"));
            let mut parts = rest.splitn(3, ':');
            let l: usize = parts
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("{file}: no line number: {line}"));
            let c: usize = parts
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("{file}: no column: {line}"));
            assert!(l >= 1 && c >= 1, "{file}: location {l}:{c}");
        }
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            failures.push(format!(
                "{file}: stderr differs\n--- expected\n{expected}--- actual\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_schema_leaves_existing_outputs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let rust_out = dir.path().join("replicated.rs");
    std::fs::write(&rust_out, "// old\n").unwrap();
    let schema = dir.path().join("schema.yaml");
    std::fs::write(&schema, "schema_version: 1\ntables: []\n").unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_replgen"))
        .args(["generate", "--schema"])
        .arg(&schema)
        .arg("--sql-out")
        .arg(dir.path().join("migrations"))
        .arg("--rust-out")
        .arg(&rust_out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&rust_out).unwrap(), "// old\n");
    assert!(!dir.path().join("migrations").exists());
}

#[test]
fn bad_usage_exits_2() {
    let status = Command::new(env!("CARGO_BIN_EXE_replgen"))
        .args(["generate", "--no-such-flag"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let status = Command::new(env!("CARGO_BIN_EXE_replgen"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn missing_schema_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_replgen"))
        .current_dir(dir.path())
        .args(["check", "--schema", "nope.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.yaml"));
}

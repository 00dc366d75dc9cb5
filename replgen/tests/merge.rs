//! `replgen introspect --merge`: ids kept, new ids never reused, settings kept, and every object
//! left out named in a warning; plain `introspect` names generated columns and partitions too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replgen_testkit::Cluster;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/introspect/merge")
}

fn replgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replgen"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> (String, String) {
    let out = replgen(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "replgen {args:?}: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn golden(name: &str, text: &str) {
    let path = fixtures().join(name);
    if std::env::var_os("REPLGEN_BLESS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&path).unwrap(), "{name}");
}

fn master() -> (Cluster, String) {
    let cluster = Cluster::start();
    let url = cluster.create_database("merge");
    cluster
        .connect("merge")
        .batch_execute(&std::fs::read_to_string(fixtures().join("tables.sql")).unwrap())
        .unwrap();
    (cluster, url)
}

#[test]
fn merge_keeps_ids_and_settings_numbers_new_tables_above_every_used_id_and_names_what_it_leaves_out(
) {
    let (_cluster, url) = master();
    let spec = fixtures().join("schema.yaml");
    let spec = spec.to_str().unwrap();
    let (yaml, stderr) = ok(&["introspect", "--db", &url, "--merge", spec]);
    golden("expected.yaml", &yaml);
    let lines: Vec<&str> = stderr.lines().collect();
    for expected in [
        "replgen: warning: leaving out generated column public.artist.shout: a generated column cannot be replicated (define it on the mirror if it needs one)",
        "replgen: warning: skipping table public.no_key: it has no primary key",
        "replgen: warning: leaving out partition public.measurement_high: its rows replicate as rows of the partitioned table public.measurement",
        "replgen: warning: leaving out partition public.measurement_low: its rows replicate as rows of the partitioned table public.measurement",
        "replgen: warning: leaving out partition public.measurement_low_a: its rows replicate as rows of the partitioned table public.measurement",
        "replgen: warning: table public.dropped_from_master (id 7) of the spec is not among the database's tables with a primary key; kept as the spec describes it",
        "replgen: warning: leaving out column public.artist.secret: the spec does not list it (pass --add-columns to add it)",
        "replgen: warning: leaving out column public.artist.added: the spec does not list it (pass --add-columns to add it)",
        "replgen: warning: leaving out column public.artist.k: the spec does not list it (pass --add-columns to add it)",
        "replgen: warning: dropping column public.artist.gone: the spec lists it but the table has no such column",
        "replgen: warning: adding table public.New Table with id 10",
        "replgen: warning: adding table public.measurement with id 11",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(
        stderr.contains("bump schema_version before `replgen generate`"),
        "{stderr}"
    );
    // Deterministic, and a fixed point: merging the merged spec again changes nothing.
    assert_eq!(ok(&["introspect", "--db", &url, "--merge", spec]).0, yaml);
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("schema.yaml");
    std::fs::write(&merged, &yaml).unwrap();
    let (again, _) = ok(&[
        "introspect",
        "--db",
        &url,
        "--merge",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(again, yaml);
    let schema = replgen_schema::parse_str(&yaml, "merged").unwrap();
    assert_eq!(schema.retired_ids, vec![9]);
    assert_eq!(schema.migrations.number, Some(20260101));
    // The database's labels for the enums the merged columns use; the spec's other ones kept;
    // none for a column left out.
    assert!(
        yaml.contains("types:\n  mood: { enum: [sad, happy] }\n  stale: { enum: [a] }\ntables:"),
        "{yaml}"
    );

    // --add-columns adds the master's unlisted columns, and says so.
    let (yaml, stderr) = ok(&["introspect", "--db", &url, "--merge", spec, "--add-columns"]);
    assert!(
        yaml.contains("      - { name: secret, type: text, nullable: true }\n      - { name: added, type: integer, nullable: true }\n"),
        "{yaml}"
    );
    assert!(
        stderr.contains("adding column public.artist.secret"),
        "{stderr}"
    );

    // --tables with --merge adds only the named new tables.
    let (yaml, _) = ok(&[
        "introspect",
        "--db",
        &url,
        "--merge",
        spec,
        "--tables",
        "measurement",
    ]);
    assert!(yaml.contains("id: 10\n    name: measurement\n"), "{yaml}");
    assert!(!yaml.contains("New Table"), "{yaml}");
    let out = replgen(&[
        "introspect",
        "--db",
        &url,
        "--merge",
        spec,
        "--tables",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn introspect_names_generated_columns_and_partitions_it_leaves_out() {
    let (_cluster, url) = master();
    let (yaml, stderr) = ok(&["introspect", "--db", &url]);
    assert!(
        stderr.contains("leaving out generated column public.artist.shout")
            && stderr.contains("leaving out partition public.measurement_low:"),
        "{stderr}"
    );
    // The sub-partitioned partition is not a table of its own: its rows would be published twice.
    assert!(
        !yaml.contains("measurement_") && yaml.contains("name: measurement\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("shout"), "{yaml}");
}

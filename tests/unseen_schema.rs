//! The black-box test others will run, done first by us: a schema nobody wrote by hand.
//!
//! From a seed, it generates ~150 tables over three PostgreSQL schemas with keys of every shape
//! (every key type, composites of 2-3 mixed columns, key columns anywhere and in an order that is
//! not the column order), columns of every must-work type (arrays, an enum, domains, point, cube,
//! json/jsonb, inet, interval, bytea), hostile identifiers (reserved words, case, spaces, quotes,
//! braces, unicode, names of 63 bytes, names of replgen's own columns), the DDL and schema.yaml
//! (ids not contiguous and not in file order). Then, like a user:
//!
//! 1. `replgen generate` writes the migrations and the module into a fresh cargo crate, which is
//!    built (the derive and the generated code compile for an arbitrary schema);
//! 2. that crate's mirror binary installs capture on a master; concurrent writers run the random
//!    workload (TRUNCATE and key changes included) while packets are dumped and an export is cut;
//!    replica A imports the export and applies, replica B applies every packet from the first;
//!    every table is identical on all three;
//! 3. `replgen introspect` of the master gives back the same layout, which `replgen generate`
//!    accepts.
//!
//! `REPLGEN_UNSEEN_SEED` replays another schema.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::workload::{literal, Rng};
use replgen_schema::quote_ident;
use replgen_testkit::Cluster;

const SCHEMAS: &[&str] = &["public", "Sales Dept", "ünï"];

/// The enum, in `public`; labels that need quoting in array text.
const ENUM_DDL: &str = "CREATE TYPE public.\"Mood Type\" AS ENUM \
    ('sad', 'ok', 'happy face', 'it''s', 'ÿ', 'a,b{c}\"d\\e', 'NULL')";
/// Domains: one over varchar(20) in another schema, one over text used as a key.
const DOMAIN_DDL: &str = "CREATE DOMAIN \"Sales Dept\".\"short text\" AS varchar(20); \
    CREATE DOMAIN public.\"Key Code\" AS text";

/// Key shapes: the key columns' types, as schema.yaml may spell them (aliases included).
const KEY_SHAPES: &[&[&str]] = &[
    &["integer"],
    &["bigint"],
    &["smallint"],
    &["uuid"],
    &["text"],
    &["varchar(40)"],
    &["char(12)"],
    &["numeric"],
    &["numeric(12,2)"],
    &["date"],
    &["timestamp with time zone"],
    &["timestamp"],
    &["bytea"],
    &["\"Key Code\""],
    &["double precision"],
    &["interval"],
    &["int4", "text"],
    &["uuid", "date", "smallint"],
    &["bigint", "bytea"],
    &["text", "timestamptz", "numeric"],
    &["character(12)", "integer"],
    &["character varying(40)", "uuid"],
    &["int8", "int2", "varchar(30)"],
    // Array keys (logged wrapped in a one-field composite).
    &["integer[]"],
    &["text[]", "date"],
];

/// Value column types (schema.yaml spelling; PostgreSQL accepts the same words).
const VALUE_TYPES: &[&str] = &[
    "smallint",
    "int",
    "bigint",
    "bool",
    "real",
    "float8",
    "double precision",
    "numeric",
    "numeric(12,3)",
    "numeric(5,5)",
    "text",
    "varchar(10)",
    "character varying",
    "char(8)",
    "uuid",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "bytea",
    "json",
    "jsonb",
    "inet",
    "cidr",
    "point",
    "\"Mood Type\"",
    "\"Sales Dept\".\"short text\"",
    "int[]",
    "text[]",
    "varchar(10)[]",
    "numeric[]",
    "uuid[]",
    "date[]",
    "timestamptz[]",
    "bytea[]",
    "boolean[]",
    "\"Mood Type\"[]",
    "jsonb[]",
    "inet[]",
    "interval[]",
    "float8[]",
    "bigint[][]",
];

/// Column names that collide with SQL, Rust, replgen's own log/staging columns and aliases.
const HOSTILE_COLUMNS: &[&str] = &[
    "ord",
    "ts",
    "k1",
    "k2",
    "replgen_op",
    "first",
    "c",
    "t",
    "n",
    "o",
    "s",
    "r",
    "OLD",
    "new",
    "self",
    "Self",
    "type",
    "fields",
    "out",
    "e",
    "_",
    "__",
    "123abc",
    "\"",
    "a\"b",
    "with space",
    "UPPER",
    "Upper",
    "upper",
    "ÿ",
    "日本語",
    "select",
    "order",
    "user",
    "from",
    "group",
    "replgen_capture",
    "oid",
    "$replgen$",
    "back\\slash",
    "it's",
    "semi;colon",
    "brace{}",
    "percent%s",
    "-dash",
    "Option",
    "String",
];

const KEY_NAMES: &[&str] = &[
    "id",
    "ID",
    "Key Col",
    "order",
    "k1",
    "ord",
    "ts",
    "replgen_op",
    "select",
    "ключ",
    "a\"b",
    "user",
    "k2",
    "Id",
    "first",
    "s",
    "t",
];

/// Where a phase's writers wait for the main thread.
#[derive(Debug, Clone, Copy)]
enum Gate {
    /// For the first three cuts with changes, a quarter of the work apart.
    Cuts,
    /// For the export, half-way.
    Export,
    None,
}

#[derive(Debug, Clone)]
struct ColSpec {
    name: String,
    ty: String,
    nullable: bool,
    identity: bool,
}

#[derive(Debug, Clone)]
struct TableSpec {
    id: u32,
    schema: String,
    name: String,
    /// Write the name quoted even where it need not be.
    quote_name: bool,
    columns: Vec<ColSpec>,
    key: Vec<String>,
    /// Leave `key:` out of schema.yaml (the default `[id]`).
    default_key: bool,
    unique: Vec<Vec<String>>,
}

fn long_ascii(prefix: &str, last: char) -> String {
    let mut s = format!("{prefix:x<62}");
    s.push(last);
    assert_eq!(s.len(), 63);
    s
}

fn long_unicode(last: char) -> String {
    let mut s = "é".repeat(31);
    s.push(last);
    assert_eq!(s.len(), 63);
    s
}

/// Hostile table names first (with their schema), then generated ones.
fn hostile_tables() -> Vec<(&'static str, String)> {
    let p = "public";
    let mut v: Vec<(&str, String)> = [
        (p, "order"),
        ("Sales Dept", "order"),
        (p, "user"),
        ("ünï", "user"),
        (p, "select"),
        (p, "Order"),
        (p, "Mixed Case Table"),
        (p, "mixed_case_table"),
        (p, "tab\"quote"),
        (p, "it's"),
        (p, "日本語テーブル"),
        (p, "テーブル"),
        (p, "dotted.name"),
        (p, "weird{brace}"),
        (p, "option"),
        (p, "string"),
        (p, "result"),
        (p, "box"),
        (p, "self"),
        (p, "Self"),
        (p, "schema"),
        (p, "SCHEMA"),
        (p, "123start"),
        (p, "replgen"),
        (p, "log_1"),
        (p, "replgen_stage_7"),
        ("Sales Dept", "Order Items"),
        ("ünï", "übersicht"),
        ("ünï", "$replgen$"),
        (p, "back\\slash"),
        (p, "semi;colon -- comment"),
        (p, "percent%s"),
        ("Sales Dept", "UPPER"),
        ("Sales Dept", "upper"),
    ]
    .iter()
    .map(|(s, n)| (*s, n.to_string()))
    .collect();
    v.push((p, long_ascii("a_table_name_of_sixty_three_bytes_", '1')));
    v.push((p, long_ascii("a_table_name_of_sixty_three_bytes_", '2')));
    v.push(("Sales Dept", long_unicode('t')));
    v
}

fn generate_tables(seed: u64, count: usize) -> Vec<TableSpec> {
    let mut rng = Rng::new(seed);
    let hostile = hostile_tables();
    let mut used_names: BTreeSet<(String, String)> = BTreeSet::new();
    let mut tables = Vec::new();
    for i in 0..count {
        let (schema, name) = if i < hostile.len() {
            (hostile[i].0.to_string(), hostile[i].1.clone())
        } else {
            let schema = SCHEMAS[[0, 0, 0, 1, 1, 2][rng.below(6) as usize]].to_string();
            let name = match i % 5 {
                0 => format!("t{i}"),
                1 => format!("T{i}_UPPER"),
                2 => format!("Tbl {i} spaced"),
                3 => format!("tâble_{i}"),
                _ => format!("MiXeD_{i}"),
            };
            (schema, name)
        };
        assert!(used_names.insert((schema.clone(), name.clone())));
        // Ids: unique, far apart, not in file order; one at the top of the range.
        let id = if i == 7 {
            i32::MAX as u32
        } else {
            (i as u32 * 7919) % 10007 + 1
        };
        let shape = KEY_SHAPES[i % KEY_SHAPES.len()];
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut unique_name = |base: &str, rng: &mut Rng| {
            let _ = rng;
            let mut n = base.to_string();
            let mut k = 2;
            while !names.insert(n.clone()) {
                // Keep within 63 bytes, cutting at a character boundary.
                let suffix = format!("_{k}");
                let mut cut = base.len().min(63 - suffix.len());
                while !base.is_char_boundary(cut) {
                    cut -= 1;
                }
                n = format!("{}{suffix}", &base[..cut]);
                k += 1;
            }
            n
        };
        let default_key = shape == ["integer"] && i % 2 == 0;
        let key_cols: Vec<ColSpec> = shape
            .iter()
            .enumerate()
            .map(|(k, ty)| {
                let base = if default_key {
                    "id".to_string()
                } else if rng.chance(60) {
                    rng.pick(KEY_NAMES).to_string()
                } else {
                    format!("key{k}")
                };
                ColSpec {
                    name: unique_name(&base, &mut rng),
                    ty: ty.to_string(),
                    nullable: false,
                    identity: *ty == "bigint" && shape.len() == 1 && i % 3 == 0,
                }
            })
            .collect();
        let mut columns: Vec<ColSpec> = Vec::new();
        let n_values = 1 + rng.below(7) as usize;
        for j in 0..n_values {
            let base = match rng.below(10) {
                0..=3 => rng.pick(HOSTILE_COLUMNS).to_string(),
                4 if j % 3 == 0 => long_ascii("a_column_name_of_sixty_three_bytes_", '1'),
                5 if j % 3 == 0 => long_unicode('c'),
                _ => format!("c{j}"),
            };
            columns.push(ColSpec {
                name: unique_name(&base, &mut rng),
                ty: rng.pick(VALUE_TYPES).to_string(),
                nullable: rng.chance(50),
                identity: false,
            });
        }
        // Two long names that differ only in their 63rd byte.
        if i % 11 == 4 {
            for last in ['1', '2'] {
                let base = long_ascii("a_column_name_of_sixty_three_bytes_", last);
                let name = unique_name(&base, &mut rng);
                columns.push(ColSpec {
                    name,
                    ty: "text".into(),
                    nullable: true,
                    identity: false,
                });
            }
        }
        // An extension type (carried as text) in a few tables.
        if i % 13 == 5 {
            columns.push(ColSpec {
                name: unique_name("Cube Col", &mut rng),
                ty: "cube".into(),
                nullable: true,
                identity: false,
            });
        }
        // A unique index on a uuid (random values never collide) in some tables.
        let mut unique = Vec::new();
        if i % 6 == 1 {
            let name = unique_name("External ID", &mut rng);
            columns.insert(
                rng.below(columns.len() as u64 + 1) as usize,
                ColSpec {
                    name: name.clone(),
                    ty: "uuid".into(),
                    nullable: i % 12 == 1,
                    identity: false,
                },
            );
            unique.push(vec![name]);
        }
        // Key columns: first in half the tables, anywhere in the others.
        let key_first = i % 2 == 0 || i < 4;
        for (k, c) in key_cols.iter().enumerate() {
            let at = if key_first {
                k
            } else {
                rng.below(columns.len() as u64 + 1) as usize
            };
            columns.insert(at, c.clone());
        }
        let mut key: Vec<String> = key_cols.iter().map(|c| c.name.clone()).collect();
        if key.len() > 1 && i % 3 != 0 {
            // Key order differs from column order.
            key.reverse();
        }
        if i % 9 == 2 && key.len() > 1 {
            unique.push(key.iter().rev().cloned().collect());
        }
        tables.push(TableSpec {
            id,
            schema,
            name,
            quote_name: i % 4 == 3,
            columns,
            key,
            default_key,
            unique,
        });
    }
    tables
}

/// `'...'`: a YAML single-quoted scalar (any text but control characters).
fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The name as schema.yaml writes it: parts with a dot or a quote are double-quoted SQL-style.
fn written_name(t: &TableSpec) -> String {
    let part = |p: &str| {
        if t.quote_name || p.contains('.') || p.contains('"') {
            quote_ident(p)
        } else {
            p.to_string()
        }
    };
    if t.schema == "public" && !t.quote_name {
        part(&t.name)
    } else {
        format!("{}.{}", part(&t.schema), part(&t.name))
    }
}

fn schema_yaml(tables: &[TableSpec]) -> String {
    let mut y = String::from(
        "# A generated, hostile schema (tests/unseen_schema.rs).\nschema_version: 3\n\
         types:\n  \"\\\"Mood Type\\\"\": { enum: [sad, ok, happy face, \"it's\", ÿ, \"a,b{c}\\\"d\\\\e\", \"NULL\"] }\n\
         tables:\n",
    );
    for t in tables {
        y.push_str(&format!("  - id: {}\n", t.id));
        y.push_str(&format!("    name: {}\n", yq(&written_name(t))));
        if !t.default_key {
            let key: Vec<String> = t.key.iter().map(|k| yq(k)).collect();
            y.push_str(&format!("    key: [{}]\n", key.join(", ")));
        }
        y.push_str("    columns:\n");
        for c in &t.columns {
            y.push_str(&format!(
                "      - {{ name: {}, type: {}",
                yq(&c.name),
                yq(&c.ty)
            ));
            if c.nullable {
                y.push_str(", nullable: true");
            }
            y.push_str(" }\n");
        }
    }
    y
}

/// What the tables need that `mirror init` cannot create: the extension and the domains (and the
/// schemas these live in). The enum is defined in schema.yaml: init creates it.
fn types_sql() -> String {
    let mut sql =
        String::from("SET client_min_messages = warning;\nCREATE EXTENSION IF NOT EXISTS cube;\n");
    for s in SCHEMAS.iter().filter(|s| **s != "public") {
        sql.push_str(&format!("CREATE SCHEMA {};\n", quote_ident(s)));
    }
    sql.push_str(&format!("{DOMAIN_DDL};\n"));
    sql
}

fn tables_sql(tables: &[TableSpec]) -> String {
    let mut sql = types_sql();
    sql.push_str(&format!("{ENUM_DDL};\n"));
    for t in tables {
        let q = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        let mut parts: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}{}",
                    quote_ident(&c.name),
                    c.ty,
                    if c.nullable { "" } else { " NOT NULL" },
                    if c.identity {
                        " GENERATED BY DEFAULT AS IDENTITY"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        let key: Vec<String> = t.key.iter().map(|k| quote_ident(k)).collect();
        parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
        sql.push_str(&format!(
            "CREATE TABLE {q} (\n    {}\n);\n",
            parts.join(",\n    ")
        ));
        for u in &t.unique {
            let cols: Vec<String> = u.iter().map(|k| quote_ident(k)).collect();
            sql.push_str(&format!(
                "CREATE UNIQUE INDEX ON {q} ({});\n",
                cols.join(", ")
            ));
        }
    }
    sql
}

fn repo() -> PathBuf {
    common::root()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The target folder of the build that made this test (`<target>/debug/deps/unseen_schema-*`):
/// the nested builds reuse every dependency it compiled instead of compiling them all again.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/debug/deps")
        .to_path_buf()
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A cargo command for a nested build in the outer `cargo test`'s target folder.
fn cargo_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    cmd
}

/// The replgen binary, built from this repository into target/unseen.
fn replgen_bin() -> PathBuf {
    run(
        cargo_cmd(&repo()).args(["build", "-q", "-p", "replgen", "--bin", "replgen"]),
        "cargo build -p replgen",
    );
    let bin = target_dir().join("debug").join("replgen");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

fn run_replgen(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run replgen")
}

/// Writes the user's crate (Cargo.toml, schema.yaml, main.rs), generates into it and builds it;
/// returns the mirror binary.
fn build_user_crate(replgen: &Path, dir: &Path, yaml: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let runtime = repo().join("runtime");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"unseen-mirror\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [[bin]]\nname = \"unseen-mirror\"\npath = \"src/main.rs\"\n\n\
             [dependencies]\nreplgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            runtime.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("schema.yaml"), yaml).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "mod replicated;\n\nfn main() -> std::process::ExitCode {\n    replgen_runtime::cli::main(&replicated::SCHEMA)\n}\n",
    )
    .unwrap();
    let p = |rel: &str| dir.join(rel).to_str().unwrap().to_string();
    let out = run_replgen(
        replgen,
        &[
            "generate",
            "--schema",
            &p("schema.yaml"),
            "--sql-out",
            &p("migrations"),
            "--rust-out",
            &p("src/replicated.rs"),
        ],
    );
    assert!(
        out.status.success(),
        "replgen generate refused the schema ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_replgen(
        replgen,
        &[
            "check",
            "--schema",
            &p("schema.yaml"),
            "--sql-out",
            &p("migrations"),
            "--rust-out",
            &p("src/replicated.rs"),
        ],
    );
    assert!(
        out.status.success(),
        "replgen check right after generate: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    run(
        cargo_cmd(dir).args(["build", "-q"]),
        "building the generated crate",
    );
    target_dir().join("debug").join("unseen-mirror")
}

struct Mirror {
    bin: PathBuf,
}

impl Mirror {
    fn ok(&self, args: &[&str]) -> String {
        let out = run(
            Command::new(&self.bin)
                .args(args)
                .env_remove("DATABASE_URL"),
            &format!("mirror {args:?}"),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the mirror expecting exit 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "mirror {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// A cube value in its text form.
fn cube_value(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("({})", rng.below(1000) as f64 / 8.0),
        1 => format!(
            "({}, {}),({}, {})",
            rng.below(100),
            -(rng.below(100) as f64) / 4.0,
            rng.below(100),
            1e-7
        ),
        2 => "(1, 2, 3)".to_string(),
        _ => "(0.1),(-1e+20)".to_string(),
    }
}

fn assert_same(schema: &replgen_schema::Schema, a: &str, b: &str, what: &str) -> (usize, i64) {
    let da = common::digests(a, schema);
    let db = common::digests(b, schema);
    let differing: Vec<String> = da
        .iter()
        .zip(&db)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, y)| format!("{} ({} vs {} rows)", x.0, x.1 .0, y.1 .0))
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: {} tables differ: {}",
        differing.len(),
        differing.join(", ")
    );
    (da.len(), da.iter().map(|d| d.1 .0).sum())
}

#[test]
fn an_unseen_hostile_schema_generates_compiles_and_replicates_exactly() {
    let started = Instant::now();
    let seed: u64 = std::env::var("REPLGEN_UNSEEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128);
    let tables = generate_tables(seed, 150);
    let yaml = schema_yaml(&tables);
    let ddl = tables_sql(&tables);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("tables.sql"), &ddl).unwrap();
    eprintln!("seed {seed}; files in {}", work.path().display());

    // 1-2. Generate and build the user's crate.
    let replgen = replgen_bin();
    let krate = work.path().join("mirror");
    let mirror = Mirror {
        bin: build_user_crate(&replgen, &krate, &yaml),
    };
    let schema = replgen_schema::load(&krate.join("schema.yaml")).unwrap();
    assert_eq!(schema.tables.len(), tables.len());
    eprintln!("generated and built in {:.0?}", started.elapsed());

    // 3. The databases.
    let cluster = Cluster::shared();
    let db = |role: &str| cluster.create_database(&Cluster::unique_name(&format!("unseen_{role}")));
    let (master, replica_a, replica_b) = (db("master"), db("replica_a"), db("replica_b"));
    for d in [&master, &replica_b] {
        common::psql_file(d, &work.path().join("tables.sql"));
    }
    // Replica A's tables come from the binary's layout: refused while a type is missing, then
    // created once the types exist.
    let refused = mirror.fails(&["init", "--db", &replica_a]);
    assert!(
        refused.contains("nothing was created") && !refused.contains("Mood Type"),
        "{refused}"
    );
    for t in &schema.tables {
        for c in &t.columns {
            if let replgen_schema::BaseType::Other(name) = &c.sql_type.base {
                if ["Key Code", "short text", "cube"]
                    .iter()
                    .any(|n| name.contains(n))
                {
                    assert!(
                        refused.contains(&format!("{name} (used by")),
                        "{name}: {refused}"
                    );
                }
            }
        }
    }
    std::fs::write(work.path().join("types.sql"), types_sql()).unwrap();
    common::psql_file(&replica_a, &work.path().join("types.sql"));
    eprint!("{}", mirror.ok(&["init", "--db", &replica_a]));
    mirror.ok(&["install", "--db", &master]);
    let feed = tempfile::tempdir().unwrap();
    let feed_dir = feed.path().to_str().unwrap().to_string();

    // The workload writes every column but the cube ones (nullable; set below with real cubes).
    let mut work_schema = schema.clone();
    for t in &mut work_schema.tables {
        let keep: Vec<bool> = t
            .columns
            .iter()
            .map(|c| c.sql_type.ddl() != "cube")
            .collect();
        let key_names: Vec<String> = t.key_columns().map(|c| c.name.clone()).collect();
        let mut i = 0;
        t.columns.retain(|_| (keep[i], i += 1).0);
        t.key = key_names
            .iter()
            .map(|k| t.columns.iter().position(|c| &c.name == k).unwrap())
            .collect();
    }
    let cube_columns: Vec<(String, String)> = schema
        .tables
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| c.sql_type.ddl() == "cube")
                .map(move |c| (common::workload::qualified(t), quote_ident(&c.name)))
        })
        .collect();

    // Cuts with changes made while writers ran, and whether phase 2's export has run: writers
    // wait for them at fixed points of their work, so cuts and the export interleave with the
    // writes whatever this machine's speed.
    let cuts = Arc::new(AtomicUsize::new(0));
    let exported = Arc::new(AtomicBool::new(false));
    // Chunks of 10 transactions the writers have run.
    let written = Arc::new(AtomicUsize::new(0));
    let writers = |phase: u64, transactions: usize, gate: Gate| {
        (0..3u64)
            .map(|w| {
                let (db, schema, cubes) = (master.clone(), work_schema.clone(), cube_columns.clone());
                let (cuts, exported, written) = (cuts.clone(), exported.clone(), written.clone());
                std::thread::spawn(move || {
                    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
                    let mut work = common::Workload::new(
                        &mut client,
                        &schema,
                        seed ^ (phase * 10 + w + 1),
                        (phase * 3 + w + 1) as i64,
                    );
                    let mut failed = 0;
                    let chunks = transactions / 10;
                    for chunk in 0..chunks {
                        match gate {
                            Gate::Cuts => {
                                // A quarter of the work in, then two quarters, then three: wait
                                // for the first, second and third cut with changes.
                                if let Some(g) = (1..=3).find(|g| chunk == g * chunks / 4) {
                                    common::wait_until(&format!("cut {g} of phase 1"), || {
                                        cuts.load(Ordering::SeqCst) >= g
                                    });
                                }
                            }
                            Gate::Export if chunk == chunks / 2 => {
                                common::wait_until("the export of phase 2", || {
                                    exported.load(Ordering::SeqCst)
                                });
                            }
                            Gate::Export | Gate::None => {}
                        }
                        failed += work.run(&mut client, 10, true);
                        written.fetch_add(1, Ordering::SeqCst);
                        if cubes.is_empty() {
                            continue;
                        }
                        let (table, column) = work.rng.pick(&cubes).clone();
                        let value = cube_value(&mut work.rng);
                        let _ = client.batch_execute(&format!(
                            "UPDATE {table} SET {column} = {}::cube WHERE ctid IN (SELECT ctid FROM {table} ORDER BY random() LIMIT 3)",
                            literal(&value)
                        ));
                    }
                    failed
                })
            })
            .collect::<Vec<_>>()
    };
    let dump = || {
        let t = Instant::now();
        let out = mirror.ok(&["dump", "--db", &master, "--out", &feed_dir]);
        eprintln!("dump {:.0?}: {}", t.elapsed(), out.trim());
        out
    };

    // Phase 1: writers and cuts concurrently; replica B follows mid-way.
    let handles = writers(0, 600, Gate::Cuts);
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(150));
        if !dump().is_empty() {
            cuts.fetch_add(1, Ordering::SeqCst);
        }
    }
    let failed1: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    dump();
    mirror.ok(&["apply", "--db", &replica_b, "--from", &feed_dir]);

    // Phase 2: more writes; an export while they run; explicit TRUNCATEs and key changes.
    let before = written.load(Ordering::SeqCst);
    let handles = writers(1, 600, Gate::Export);
    common::wait_until("phase 2's writers have started", || {
        written.load(Ordering::SeqCst) > before
    });
    let export = mirror.ok(&["export", "--db", &master, "--out", &feed_dir]);
    exported.store(true, Ordering::SeqCst);
    assert!(export.contains("export "), "{export}");
    let mut explicit = postgres::Client::connect(&master, postgres::NoTls).unwrap();
    for t in schema.tables.iter().filter(|t| t.key.len() > 1).take(6) {
        let q = common::workload::qualified(t);
        let k = &t.columns[t.key[0]];
        // A key change on a composite key: the key column gets a value of another row's key
        // column (may collide: then it is a no-op), or the row is removed and re-added.
        let _ = explicit.batch_execute(&format!(
            "UPDATE {q} SET {c} = (SELECT max({c}) FROM {q}) WHERE ctid IN (SELECT ctid FROM {q} ORDER BY random() LIMIT 1)",
            c = quote_ident(&k.name)
        ));
    }
    let truncated: Vec<&replgen_schema::Table> = schema
        .tables
        .iter()
        .filter(|t| t.name == "order" || t.key.len() == 3)
        .take(4)
        .collect();
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(150));
        if !dump().is_empty() {
            cuts.fetch_add(1, Ordering::SeqCst);
        }
    }
    for t in &truncated {
        explicit
            .batch_execute(&format!("TRUNCATE {}", common::workload::qualified(t)))
            .unwrap();
    }
    let failed2: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    // A last round after the TRUNCATEs, then the final cut.
    let handles = writers(2, 150, Gate::None);
    let failed3: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    dump();
    let cuts = cuts.load(Ordering::SeqCst);
    eprintln!(
        "writes done at {:.0?}: {cuts} cuts during writes; failed transactions {failed1} + {failed2} + {failed3}",
        started.elapsed()
    );
    assert!(cuts >= 3, "only {cuts} cuts had changes");

    // Replica A: import the export, then apply the rest. Replica B: apply from where it was.
    let import = mirror.ok(&["import", "--db", &replica_a, "--from", &feed_dir]);
    let apply_a = mirror.ok(&["apply", "--db", &replica_a, "--from", &feed_dir]);
    let apply_b = mirror.ok(&["apply", "--db", &replica_b, "--from", &feed_dir]);
    eprintln!("{import}{apply_a}{apply_b}");

    let (n_tables, rows) = assert_same(
        &schema,
        &master,
        &replica_b,
        "master vs replica B (apply from packet 1)",
    );
    assert_same(
        &schema,
        &master,
        &replica_a,
        "master vs replica A (import + apply)",
    );
    mirror.ok(&["compare", "--db", &master, "--replica", &replica_a]);
    mirror.ok(&["compare", "--db", &master, "--replica", &replica_b]);
    // A value changed on a replica, in a table with a column named `r` (what the digest's row
    // alias once meant there, so only that column was hashed): compare sees it.
    let mut client_b = postgres::Client::connect(&replica_b, postgres::NoTls).unwrap();
    let tampered = schema.tables.iter().find_map(|t| {
        t.columns.iter().find(|c| c.name == "r")?;
        let (_, c) = t
            .columns
            .iter()
            .enumerate()
            .find(|(i, c)| c.name != "r" && c.nullable && !t.key.contains(i))?;
        let (q, c) = (t.qualified_sql(), quote_ident(&c.name));
        let changed = client_b
            .execute(
                &format!(
                    "UPDATE {q} SET {c} = NULL WHERE ctid = \
                     (SELECT ctid FROM {q} WHERE {c} IS NOT NULL LIMIT 1)"
                ),
                &[],
            )
            .unwrap();
        (changed == 1).then(|| format!("{}.{}", t.schema, t.name))
    });
    let tampered = tampered.expect("a table with a column named r holds a value to change");
    let out = Command::new(&mirror.bin)
        .args(["compare", "--db", &master, "--replica", &replica_b])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "compare must see the change");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&tampered), "{tampered}:\n{stdout}");
    let filled = common::digests(&master, &schema)
        .iter()
        .filter(|d| d.1 .0 > 0)
        .count();
    eprintln!(
        "{n_tables} tables ({filled} not empty), {rows} rows, {cuts} cuts; failed transactions: {failed1} + {failed2} + {failed3}"
    );
    assert!(rows > 300, "the workload wrote only {rows} rows");
    // What the packets carried: every operation, composite keys, cubes that are not NULL.
    let lines = common::packet_lines(feed.path());
    for op in ["0", "1", "2"] {
        assert!(
            lines.iter().any(|(_, l)| l.split('\t').nth(3) == Some(op)),
            "no packet line has operation {op}"
        );
    }
    assert!(lines
        .iter()
        .any(|(_, l)| l.split('\t').nth(1).is_some_and(|k| k.starts_with('('))));
    let mut client = postgres::Client::connect(&master, postgres::NoTls).unwrap();
    let cubes: i64 = cube_columns
        .iter()
        .map(|(t, c)| {
            client
                .query_one(&format!("SELECT count({c}) FROM {t}"), &[])
                .unwrap()
                .get::<_, i64>(0)
        })
        .sum();
    assert!(
        cube_columns.is_empty() || cubes > 0,
        "no cube value was written"
    );
    assert!(
        filled > n_tables / 2,
        "only {filled} of {n_tables} tables hold rows"
    );

    // Introspection gives back the same layout, and replgen generate accepts it.
    let out = run_replgen(&replgen, &["introspect", "--db", &master]);
    assert!(
        out.status.success(),
        "introspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let introspected = work.path().join("introspected");
    std::fs::create_dir_all(&introspected).unwrap();
    std::fs::write(introspected.join("schema.yaml"), &out.stdout).unwrap();
    let back = replgen_schema::load(&introspected.join("schema.yaml"))
        .unwrap_or_else(|e| panic!("the introspected schema.yaml is invalid:\n{e}"));
    let layout = |s: &replgen_schema::Schema| {
        let mut v: Vec<_> = s
            .tables
            .iter()
            .map(|t| {
                (
                    t.schema.clone(),
                    t.name.clone(),
                    t.columns
                        .iter()
                        .map(|c| (c.name.clone(), c.sql_type.ddl(), c.nullable))
                        .collect::<Vec<_>>(),
                    t.key_columns().map(|c| c.name.clone()).collect::<Vec<_>>(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (ours, theirs) = (layout(&schema), layout(&back));
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "introspect disagrees about a table");
    }
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(
        back.types, schema.types,
        "introspect disagrees about the enum"
    );
    let p = |rel: &str| introspected.join(rel).to_str().unwrap().to_string();
    let out = run_replgen(
        &replgen,
        &[
            "generate",
            "--schema",
            &p("schema.yaml"),
            "--sql-out",
            &p("migrations"),
            "--rust-out",
            &p("replicated.rs"),
        ],
    );
    assert!(
        out.status.success(),
        "replgen generate refused the introspected schema: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("done in {:.0?}", started.elapsed());
    // An enum label the master has and the layout lacks (an application's migration before
    // the new capture is installed): a value with it would go out under a layout every
    // replica refuses it with. The cut refuses instead, and so does install.
    let mut client_m = postgres::Client::connect(&master, postgres::NoTls).unwrap();
    client_m
        .batch_execute("ALTER TYPE public.\"Mood Type\" ADD VALUE 'not in the layout'")
        .unwrap();
    let refused = mirror.fails(&["dump", "--db", &master, "--out", &feed_dir]);
    assert!(
        refused.contains("Mood Type") && refused.contains("not in the layout"),
        "{refused}"
    );
    let refused = mirror.fails(&["install", "--db", &master]);
    assert!(refused.contains("not in the layout"), "{refused}");
}

//! `mirror init`: a new mirror's tables from the binary's layout, so no hand-written DDL is needed.

mod common;

use common::{psql_file, root, Env};
use replgen_testkit::Cluster;

/// The types the project's tables use that the layout cannot create, as the README's setup has
/// a new mirror create them.
fn types_sql() -> String {
    std::fs::read_to_string(root().join("examples/mirror-types.sql")).unwrap()
}

fn empty_database(env: &Env, name: &str) -> String {
    env.cluster.create_database(&Cluster::unique_name(name))
}

fn relations(db: &str) -> Vec<String> {
    let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
    client
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn init_creates_the_tables_then_an_import_and_packets_give_the_masters_rows() {
    let mut env = Env::new("init_full");
    let replica = empty_database(&env, "init_full_new");
    postgres::Client::connect(&replica, postgres::NoTls)
        .unwrap()
        .batch_execute(&types_sql())
        .unwrap();
    let out = env.mirror_ok(&["init", "--db", &replica]);
    assert!(
        out.contains(&format!("created {} tables", env.schema.tables.len()))
            && out.contains("schemas musicbrainz"),
        "{out}"
    );
    env.replica = replica;

    psql_file(
        &env.master,
        &root().join("examples/quickstart-writes-1.sql"),
    );
    env.dump();
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    psql_file(
        &env.master,
        &root().join("examples/quickstart-writes-2.sql"),
    );
    env.dump();
    env.apply();
    let (tables, rows) = env.assert_identical();
    assert_eq!(tables, env.schema.tables.len());
    assert!(rows > 0);
    env.mirror_ok(&["compare", "--db", &env.master, "--replica", &env.replica]);
    // The live tables are exactly the layout: the master's capture check accepts them.
    let mut client = postgres::Client::connect(&env.replica, postgres::NoTls).unwrap();
    let key: String = client
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'public.artist_credit_name'::regclass AND contype = 'p'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(key, "PRIMARY KEY (artist_credit, \"position\")");
}

#[test]
fn init_refuses_types_the_database_lacks_naming_them_and_their_columns_and_creates_nothing() {
    let env = Env::new("init_types");
    let replica = empty_database(&env, "init_types_new");
    let err = env.mirror_fails(&["init", "--db", &replica], 1);
    assert!(
        err.contains("fluency (used by public.artist.fluency, musicbrainz.editor_note.fluency)")
            && err.contains("positive_int (used by public.label.label_code)")
            && err.contains("nothing was created"),
        "{err}"
    );
    assert_eq!(relations(&replica), Vec::<String>::new());
    let mut client = postgres::Client::connect(&replica, postgres::NoTls).unwrap();
    let schema: Option<String> = client
        .query_one("SELECT to_regnamespace('musicbrainz')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(schema, None, "the schema was created before the refusal");
}

#[test]
fn init_refuses_a_database_that_has_some_of_the_tables_naming_them() {
    let env = Env::new("init_exists");
    let replica = empty_database(&env, "init_exists_new");
    let mut client = postgres::Client::connect(&replica, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "{} CREATE TABLE area (id integer PRIMARY KEY); CREATE VIEW recording AS SELECT 1 AS id;",
            types_sql()
        ))
        .unwrap();
    let err = env.mirror_fails(&["init", "--db", &replica], 1);
    assert!(
        err.contains("public.area, public.recording") && err.contains("created nothing"),
        "{err}"
    );
    assert_eq!(
        relations(&replica),
        vec!["public.area", "public.area_pkey", "public.recording"]
    );
}

/// A layout with an enum definition, hostile names and labels included, as generated code has it.
mod with_enum {
    use replgen_runtime::def::EnumDef;
    use replgen_runtime::{ColumnDef, SchemaDef, TableDef};

    pub const LABELS: &[&str] = &["it's", "a,b{c}\"d\\e", "NULL", "", "ÿ"];
    const COLUMNS: &[ColumnDef] = &[
        ColumnDef {
            name: "Id",
            sql_type: "integer",
            nullable: false,
            renamed_from: None,
        },
        ColumnDef {
            name: "moods",
            sql_type: "\"Odd Schema\".\"Mood Type\"[]",
            nullable: true,
            renamed_from: None,
        },
    ];
    const TABLE: TableDef = TableDef {
        id: 1,
        schema: "Odd Schema",
        name: "t \"1\"",
        columns: COLUMNS,
        key: &[0],
        check_row: |_| Ok(()),
        check_key: |_| Ok(()),
    };
    pub static SCHEMA: SchemaDef = SchemaDef {
        version: 1,
        fingerprint: "test",
        tables: &[&TABLE],
        enums: &[EnumDef {
            schema: "Odd Schema",
            name: "Mood Type",
            labels: LABELS,
        }],
        install_sql: "",
        uninstall_sql: "",
        earlier: &[],
    };
}

#[test]
fn init_creates_the_enums_the_layout_defines_and_refuses_one_that_lacks_labels() {
    let cluster = Cluster::shared();
    let db = cluster.create_database(&Cluster::unique_name("init_enum"));
    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let summary = replgen_runtime::replica::init(&mut client, &with_enum::SCHEMA).unwrap();
    assert_eq!(
        (summary.schemas, summary.enums),
        (vec!["Odd Schema".to_string()], 1)
    );
    let labels: Vec<String> = client
        .query_one(
            "SELECT enum_range(NULL::\"Odd Schema\".\"Mood Type\")::text[]",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(labels, with_enum::LABELS);
    client
        .batch_execute(
            "INSERT INTO \"Odd Schema\".\"t \"\"1\"\"\" VALUES (1, ARRAY['it''s', 'NULL', '']::\"Odd Schema\".\"Mood Type\"[])",
        )
        .unwrap();

    // The type exists without one of the labels: refused, and nothing is left behind.
    let db = cluster.create_database(&Cluster::unique_name("init_enum_short"));
    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE SCHEMA \"Odd Schema\"; CREATE TYPE \"Odd Schema\".\"Mood Type\" AS ENUM ('it''s', 'NULL')",
        )
        .unwrap();
    let err = replgen_runtime::replica::init(&mut client, &with_enum::SCHEMA)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("type Odd Schema.Mood Type")
            && err.contains("lacks the labels a,b{c}\"d\\e, , ÿ"),
        "{err}"
    );
    assert_eq!(relations(&db), Vec::<String>::new());

    // With every label (and one more of its own) the type is used as it is.
    client
        .batch_execute(
            "ALTER TYPE \"Odd Schema\".\"Mood Type\" ADD VALUE 'a,b{c}\"d\\e'; \
             ALTER TYPE \"Odd Schema\".\"Mood Type\" ADD VALUE ''; \
             ALTER TYPE \"Odd Schema\".\"Mood Type\" ADD VALUE 'ÿ'; \
             ALTER TYPE \"Odd Schema\".\"Mood Type\" ADD VALUE 'extra'",
        )
        .unwrap();
    let summary = replgen_runtime::replica::init(&mut client, &with_enum::SCHEMA).unwrap();
    assert_eq!((summary.schemas.len(), summary.enums), (0, 0));
    assert_eq!(
        relations(&db),
        vec!["Odd Schema.t \"1\"", "Odd Schema.t \"1\"_pkey"]
    );
}

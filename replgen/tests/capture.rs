//! The generated capture on a real PostgreSQL: every table of the project's schema.yaml logs
//! exactly the expected (key, kind) entries for INSERT, UPDATE, key-changing UPDATE, DELETE and
//! TRUNCATE; install is repeatable; uninstall removes exactly what install created.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use postgres::Client;
use replgen::Paths;
use replgen_schema::{quote_ident, BaseType, Column, Schema, Table};
use replgen_testkit::Cluster;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn project() -> (Schema, String, String, String) {
    let root = root();
    let schema = replgen_schema::load(&root.join("schema.yaml")).unwrap();
    let paths = Paths {
        schema: root.join("schema.yaml"),
        sql_out: root.join("migrations"),
        rust_out: root.join("src/replicated.rs"),
    };
    let files = replgen::generate(&schema, &paths).unwrap();
    let install =
        String::from_utf8(files[&root.join("migrations/V1__replgen_capture.sql")].clone()).unwrap();
    let uninstall =
        String::from_utf8(files[&root.join("migrations/uninstall/replgen_uninstall.sql")].clone())
            .unwrap();
    let tables = std::fs::read_to_string(root.join("tables.sql")).unwrap();
    (schema, tables, install, uninstall)
}

/// A SQL expression for a value of this column, distinct per `i` for key-capable types.
fn value(c: &Column, i: u32) -> String {
    let ddl = c.sql_type.ddl();
    if c.sql_type.array {
        return format!("'{{}}'::{ddl}");
    }
    let lit = match &c.sql_type.base {
        BaseType::Smallint | BaseType::Integer | BaseType::Bigint => format!("{i}"),
        BaseType::Boolean => "true".into(),
        BaseType::Real | BaseType::Double | BaseType::Numeric { .. } => format!("{i}.5"),
        BaseType::Text | BaseType::Varchar(_) | BaseType::Char(_) => format!("'k{i}'"),
        BaseType::Uuid => format!("'00000000-0000-0000-0000-{i:012}'"),
        BaseType::Date => format!("'2024-01-{:02}'", i + 1),
        BaseType::Time | BaseType::TimeTz => "'12:34:56'".into(),
        BaseType::Timestamp | BaseType::TimestampTz => format!("'2024-01-01 00:00:{:02}'", i),
        BaseType::Interval => format!("'{i} days'"),
        BaseType::Bytea => "'\\x0102'".into(),
        BaseType::Json | BaseType::Jsonb => "'{\"a\": 1}'".into(),
        BaseType::Inet => "'10.0.0.1'".into(),
        BaseType::Cidr => "'10.0.0.0/8'".into(),
        BaseType::Other(name) => match name.as_str() {
            "fluency" => "'native'".into(),
            "positive_int" => format!("{}", i + 1),
            "point" => "'(1,2)'".into(),
            other => panic!("no test value for type {other}"),
        },
    };
    format!("{lit}::{ddl}")
}

fn qualified(t: &Table) -> String {
    t.qualified_sql()
}

fn key_where(t: &Table, i: u32) -> String {
    t.key_columns()
        .map(|c| format!("{} = {}", quote_ident(&c.name), value(c, i)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The key of row `i` as the log's text: k1|k2|...
fn key_text(client: &mut Client, t: &Table, i: u32) -> String {
    let exprs: Vec<String> = t
        .key_columns()
        .map(|c| format!("({})::text", value(c, i)))
        .collect();
    let row = client
        .query_one(&format!("SELECT concat_ws('|', {})", exprs.join(", ")), &[])
        .unwrap();
    row.get(0)
}

/// The log's entries after `after_ord`, one per logged key (the log's arrays unnested):
/// (statement number, kind, key text), in ord order.
fn log_entries(client: &mut Client, t: &Table, after_ord: i64) -> Vec<(i64, i64, String)> {
    let ks: Vec<String> = (1..=t.key.len()).map(|i| format!("k{i}")).collect();
    let texts: Vec<String> = ks.iter().map(|k| format!("u.{k}::text")).collect();
    let arrays: Vec<String> = ks.iter().map(|k| format!("l.{k}")).collect();
    let sql = format!(
        "SELECT l.ord, concat_ws('|', {}) FROM replgen.log_{} l, unnest({}) AS u({}) \
         WHERE l.ord > $1 ORDER BY 1, 2",
        texts.join(", "),
        t.id,
        arrays.join(", "),
        ks.join(", ")
    );
    client
        .query(&sql, &[&after_ord])
        .unwrap()
        .iter()
        .map(|r| {
            let ord: i64 = r.get(0);
            (ord / 4, ord % 4, r.get::<_, String>(1))
        })
        .collect()
}

fn last_ord(client: &mut Client, t: &Table) -> i64 {
    client
        .query_one(
            &format!("SELECT coalesce(max(ord), 0) FROM replgen.log_{}", t.id),
            &[],
        )
        .unwrap()
        .get(0)
}

/// Runs `sql` and checks the log gained exactly `expected` (kind, row i) entries, where entries of
/// one statement share one sequence value and statements are ordered as listed.
fn step(client: &mut Client, t: &Table, sql: &str, expected: &[(&[(i64, u32)], &str)]) {
    let before = last_ord(client, t);
    client
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{}: {sql}: {e}", t.name));
    let got = log_entries(client, t, before);
    let mut seqs: Vec<i64> = got.iter().map(|e| e.0).collect();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        expected.len(),
        "{}: {sql}: trigger calls {got:?}",
        t.name
    );
    for ((entries, what), seq) in expected.iter().zip(&seqs) {
        let mut want: Vec<(i64, String)> = entries
            .iter()
            .map(|(k, i)| (*k, key_text(client, t, *i)))
            .collect();
        want.sort();
        let mut have: Vec<(i64, String)> = got
            .iter()
            .filter(|e| e.0 == *seq)
            .map(|e| (e.1, e.2.clone()))
            .collect();
        have.sort();
        assert_eq!(have, want, "{}: {what}", t.written_name);
    }
}

fn catalog(client: &mut Client) -> BTreeSet<String> {
    let sql = "
        SELECT 'namespace ' || nspname FROM pg_namespace
        UNION ALL SELECT 'class ' || c.oid::regclass::text || ' ' || c.relkind::text FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        UNION ALL SELECT 'proc ' || p.oid::regprocedure::text FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[test]
fn every_table_logs_every_kind_of_change() {
    let (schema, tables_sql, install, uninstall) = project();
    let cluster = Cluster::start();
    cluster.create_database("capture");
    let mut client = cluster.connect("capture");
    client.batch_execute(&tables_sql).unwrap();
    let before = catalog(&mut client);
    client.batch_execute(&install).unwrap();
    client.batch_execute(&install).expect("install runs twice");

    let registry: Vec<(i32, String, String, Vec<String>)> = client
        .query("SELECT table_id, schema_name, table_name, key_columns FROM replgen.registry ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let expected: Vec<(i32, String, String, Vec<String>)> = schema
        .tables
        .iter()
        .map(|t| {
            (
                t.id as i32,
                t.schema.clone(),
                t.name.clone(),
                t.key_columns().map(|c| c.name.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(registry, expected);
    let meta = client
        .query_one("SELECT schema_version, fingerprint FROM replgen.meta", &[])
        .unwrap();
    assert_eq!(meta.get::<_, i32>(0), schema.schema_version as i32);
    assert_eq!(meta.get::<_, String>(1), schema.fingerprint());

    for t in &schema.tables {
        let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let rows = |is: &[u32]| -> String {
            is.iter()
                .map(|&i| {
                    format!(
                        "({})",
                        t.columns
                            .iter()
                            .map(|c| value(c, i))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let q = qualified(t);
        step(
            &mut client,
            t,
            &format!(
                "INSERT INTO {q} ({}) VALUES {}",
                cols.join(", "),
                rows(&[1, 2, 3])
            ),
            &[(&[(3, 1), (3, 2), (3, 3)], "insert")],
        );
        let non_key = t
            .columns
            .iter()
            .enumerate()
            .find(|(i, _)| !t.key.contains(i))
            .map(|(_, c)| c)
            .unwrap();
        step(
            &mut client,
            t,
            &format!(
                "UPDATE {q} SET {0} = {0} WHERE {1}",
                quote_ident(&non_key.name),
                key_where(t, 1)
            ),
            &[(&[(1, 1)], "update in place")],
        );
        let set_key: Vec<String> = t
            .key_columns()
            .map(|c| format!("{} = {}", quote_ident(&c.name), value(c, 5)))
            .collect();
        step(
            &mut client,
            t,
            &format!(
                "UPDATE {q} SET {} WHERE {}",
                set_key.join(", "),
                key_where(t, 2)
            ),
            &[
                (&[(0, 2), (2, 5)], "key update, row trigger"),
                (&[(1, 5)], "key update, statement trigger"),
            ],
        );
        step(
            &mut client,
            t,
            &format!("DELETE FROM {q} WHERE {}", key_where(t, 3)),
            &[(&[(0, 3)], "delete")],
        );
        step(
            &mut client,
            t,
            &format!(
                "UPDATE {q} SET {0} = {0} WHERE false",
                quote_ident(&non_key.name)
            ),
            &[],
        );
        step(
            &mut client,
            t,
            &format!("TRUNCATE {q}"),
            &[(&[(0, 1), (0, 5)], "truncate")],
        );
    }

    // Re-installing keeps pending changes.
    let pending: i64 = client
        .query_one("SELECT count(*) FROM replgen.log_1", &[])
        .unwrap()
        .get(0);
    assert!(pending > 0);
    client.batch_execute(&install).unwrap();
    let after: i64 = client
        .query_one("SELECT count(*) FROM replgen.log_1", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, pending);

    client.batch_execute(&uninstall).unwrap();
    client
        .batch_execute(&uninstall)
        .expect("uninstall runs twice");
    assert_eq!(
        catalog(&mut client),
        before,
        "uninstall leaves exactly the catalog install found"
    );
}

#[test]
fn uninstall_tolerates_missing_tables_and_missing_capture() {
    let (_, tables_sql, install, uninstall) = project();
    let cluster = Cluster::start();
    cluster.create_database("empty");
    let mut client = cluster.connect("empty");
    client
        .batch_execute(&uninstall)
        .expect("uninstall without capture");
    client.batch_execute(&tables_sql).unwrap();
    client.batch_execute(&install).unwrap();
    // The runtime keeps its own state in schema replgen; uninstall removes it too.
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS replgen.cuts (serial bigint)")
        .unwrap();
    client
        .batch_execute("DROP TABLE musicbrainz.editor_note; DROP SCHEMA musicbrainz")
        .unwrap();
    client
        .batch_execute(&uninstall)
        .expect("uninstall with a table gone");
    let triggers: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'replgen%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(triggers, 0);
    let schemas: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'replgen'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0);
}

const CHUNKED: &str = "schema_version: 1
tables:
  - id: 1
    name: big
    key: [a, b]
    columns:
      - { name: a, type: integer }
      - { name: b, type: text }
      - { name: v, type: integer, nullable: true }
  - id: 2
    name: arr
    key: [k]
    columns:
      - { name: k, type: \"integer[]\" }
      - { name: v, type: integer, nullable: true }
";

/// One statement's log rows after `after`: its kind, each row's key count (sorted) and every
/// logged key as `k1|k2`, sorted. Panics unless exactly one statement was logged and every row
/// holds equally long arrays.
fn statement(client: &mut Client, after: i64) -> (i64, Vec<i64>, Vec<String>) {
    let rows = client
        .query(
            "SELECT ord, cardinality(k1), cardinality(k2) FROM replgen.log_1 WHERE ord > $1 ORDER BY 2",
            &[&after],
        )
        .unwrap();
    let ords: BTreeSet<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ords.len(), 1, "one statement, one ord: {ords:?}");
    let ord = *ords.first().unwrap();
    let sizes: Vec<i64> = rows
        .iter()
        .map(|r| {
            let (a, b): (i32, i32) = (r.get(1), r.get(2));
            assert_eq!(a, b, "zipped arrays");
            a as i64
        })
        .collect();
    let mut keys: Vec<String> = client
        .query(
            "SELECT u.a::text || '|' || u.b FROM replgen.log_1 l, unnest(l.k1, l.k2) AS u(a, b) WHERE l.ord > $1",
            &[&after],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    keys.sort();
    (ord % 4, sizes, keys)
}

fn expected_keys(ids: impl Iterator<Item = u32>) -> Vec<String> {
    let mut v: Vec<String> = ids.map(|g| format!("{g}|b{g}")).collect();
    v.sort();
    v
}

/// Chunk sizes of a statement of `n` keys in chunks of `chunk`, sorted.
fn chunk_sizes(n: i64, chunk: i64) -> Vec<i64> {
    let mut v: Vec<i64> = (0..n / chunk).map(|_| chunk).collect();
    if n % chunk > 0 {
        v.insert(0, n % chunk);
    }
    v
}

#[test]
fn big_statements_are_chunked_and_array_keys_wrapped() {
    let schema = replgen_schema::parse_str(CHUNKED, "chunked.yaml").unwrap();
    let limits = replgen::sql::Limits {
        chunk_keys: 100,
        slice_keys: 1000,
    };
    let install = replgen::sql::install_with(&schema, limits).unwrap();
    let cluster = Cluster::start();
    cluster.create_database("chunked");
    let mut c = cluster.connect("chunked");
    c.batch_execute(
        "CREATE TABLE big (a integer, b text, v integer, PRIMARY KEY (a, b));
         CREATE TABLE arr (k integer[] PRIMARY KEY, v integer);",
    )
    .unwrap();
    c.batch_execute(&install).unwrap();
    c.batch_execute(&install).expect("install runs twice");

    // Known small size: one pass, sliced.
    let mut last = last_ord(&mut c, &schema.tables[0]);
    c.batch_execute("INSERT INTO big SELECT g, 'b' || g FROM generate_series(1, 250) g")
        .unwrap();
    assert_eq!(
        statement(&mut c, last),
        (3, chunk_sizes(250, 100), expected_keys(1..=250))
    );
    // Larger than slice_keys: numbered and grouped.
    last = last_ord(&mut c, &schema.tables[0]);
    c.batch_execute("INSERT INTO big SELECT g, 'b' || g FROM generate_series(251, 2250) g")
        .unwrap();
    assert_eq!(
        statement(&mut c, last),
        (3, chunk_sizes(2000, 100), expected_keys(251..=2250))
    );
    // Uncounted (track_counts off): the size is unknown, numbered and grouped.
    last = last_ord(&mut c, &schema.tables[0]);
    c.batch_execute("BEGIN; SET LOCAL track_counts = off; UPDATE big SET v = 1; COMMIT")
        .unwrap();
    assert_eq!(
        statement(&mut c, last),
        (1, chunk_sizes(2250, 100), expected_keys(1..=2250))
    );
    // A hint that undercounts (1 counted delete, then 2249 uncounted): the one-pass attempt sees
    // more than slice_keys rows, logs nothing, and the grouped insert logs them all.
    c.batch_execute("BEGIN; DELETE FROM big WHERE a = 1; SET LOCAL track_counts = off")
        .unwrap();
    last = last_ord(&mut c, &schema.tables[0]);
    c.batch_execute("DELETE FROM big").unwrap();
    let hint: i64 = c
        .query_one(
            "SELECT pg_stat_get_xact_tuples_deleted('big'::regclass)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hint, 1, "the hint undercounts");
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(
        statement(&mut c, last),
        (0, chunk_sizes(2249, 100), expected_keys(2..=2250))
    );
    // TRUNCATE logs every key, chunked.
    c.batch_execute("INSERT INTO big SELECT g, 'b' || g FROM generate_series(1, 250) g")
        .unwrap();
    last = last_ord(&mut c, &schema.tables[0]);
    c.batch_execute("TRUNCATE big").unwrap();
    assert_eq!(
        statement(&mut c, last),
        (0, chunk_sizes(250, 100), expected_keys(1..=250))
    );

    // Array keys of any shape survive the log (wrapped, as PostgreSQL has no arrays of arrays).
    c.batch_execute(
        "INSERT INTO arr (k) VALUES ('{1,2}'), ('{3}'), ('{}'), ('{{1,2},{3,4}}');
         UPDATE arr SET k = '{9}' WHERE k = '{3}';
         DELETE FROM arr WHERE k = '{}';
         TRUNCATE arr;",
    )
    .unwrap();
    let got: Vec<(i64, String)> = c
        .query(
            "SELECT l.ord, u.k::text FROM replgen.log_2 l, unnest(l.k1) AS u(k) ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get(1)))
        .collect();
    let first = got[0].0 / 4;
    let got: Vec<(i64, i64, String)> = got
        .into_iter()
        .map(|(ord, k)| (ord / 4 - first, ord % 4, k))
        .collect();
    let want: Vec<(i64, i64, String)> = [
        (0, 3, "{1,2}"),
        (0, 3, "{3}"),
        (0, 3, "{{1,2},{3,4}}"),
        (0, 3, "{}"),
        (1, 0, "{3}"),
        (1, 2, "{9}"),
        (2, 1, "{9}"),
        (3, 0, "{}"),
        (4, 0, "{1,2}"),
        (4, 0, "{9}"),
        (4, 0, "{{1,2},{3,4}}"),
    ]
    .into_iter()
    .map(|(s, k, v)| (s, k, v.to_string()))
    .collect();
    assert_eq!(got, want);
}

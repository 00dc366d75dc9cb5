//! Capture overhead: the same 1M-row INSERT ... SELECT, UPDATE and DELETE on a MusicBrainz-like
//! table with and without the generated capture, on a testkit cluster, two passes, ratios printed.
//! Not run by default and asserts no timing:
//! `cargo test --release -p replgen --test overhead -- --ignored --nocapture`
//! (`REPLGEN_BENCH_ROWS` overrides the row count).

use std::time::{Duration, Instant};

use replgen::Paths;
use replgen_testkit::Cluster;

const SCHEMA: &str = "schema_version: 1
tables:
  - id: 1
    name: captured
    columns:
      - { name: id,            type: integer }
      - { name: gid,           type: uuid }
      - { name: name,          type: varchar }
      - { name: length,        type: integer, nullable: true }
      - { name: comment,       type: varchar(255) }
      - { name: edits_pending, type: integer }
";

const TABLE: &str =
    "(id integer PRIMARY KEY, gid uuid NOT NULL UNIQUE, name varchar NOT NULL, length integer,
    comment varchar(255) NOT NULL DEFAULT '', edits_pending integer NOT NULL DEFAULT 0)";

#[test]
#[ignore]
fn capture_overhead() {
    let rows: u64 = std::env::var("REPLGEN_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let schema = replgen_schema::parse_str(SCHEMA, "bench.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        schema: "bench.yaml".into(),
        sql_out: dir.path().into(),
        rust_out: dir.path().join("r.rs"),
    };
    let files = replgen::generate(&schema, &paths).unwrap();
    let install =
        String::from_utf8(files[&dir.path().join("V1__replgen_capture.sql")].clone()).unwrap();

    let cluster = Cluster::start();
    cluster.create_database("bench");
    let mut c = cluster.connect("bench");
    c.batch_execute(&format!(
        "CREATE TABLE plain {TABLE}; CREATE TABLE captured {TABLE};"
    ))
    .unwrap();
    c.batch_execute(&install).unwrap();

    let mut time = |sql: &str| -> Duration {
        c.batch_execute("CHECKPOINT").unwrap();
        let start = Instant::now();
        c.batch_execute(sql).unwrap();
        start.elapsed()
    };
    let mut totals = [[Duration::ZERO; 3]; 2];
    for pass in 1..=2 {
        for (t, table) in ["plain", "captured"].iter().enumerate() {
            time(&format!("TRUNCATE {table}; TRUNCATE replgen.log_1"));
            time(&format!("VACUUM ANALYZE {table}"));
            let ins = time(&format!(
                "INSERT INTO {table} (id, gid, name, length) SELECT g, md5(g::text)::uuid, 'name ' || g, g % 1000 FROM generate_series(1, {rows}) g"
            ));
            let upd = time(&format!("UPDATE {table} SET length = length + 1"));
            let del = time(&format!("DELETE FROM {table}"));
            println!("pass {pass} {table:>8}: insert {ins:>10.2?} update {upd:>10.2?} delete {del:>10.2?}");
            for (i, d) in [ins, upd, del].into_iter().enumerate() {
                totals[t][i] += d;
            }
        }
    }
    let ratio = |i: usize| totals[1][i].as_secs_f64() / totals[0][i].as_secs_f64();
    println!(
        "capture overhead, {rows} rows: insert {:.2}x update {:.2}x delete {:.2}x",
        ratio(0),
        ratio(1),
        ratio(2)
    );
}

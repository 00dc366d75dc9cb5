//! The boundary packet of a schema change (tests/evolve, version 1 to 2): `item` gains a NOT
//! NULL column with a default, so the packet reloads the whole table; applying it (DDL, the
//! reload, the position, one transaction) against COPY of the same rows into an empty table of
//! the new shape.

use std::time::Instant;

use crate::report::{Row, Section};
use crate::util::{self, exec, rate, rows_label, secs};
use crate::Opts;

fn evolve(file: &str) -> String {
    std::fs::read_to_string(util::workspace_root().join("tests/evolve").join(file))
        .unwrap_or_else(|e| panic!("read tests/evolve/{file}: {e}"))
}

fn run(version: u32, args: &[&str], what: &str) -> util::Run {
    let name = match version {
        1 => "evolve-v1",
        2 => "evolve-v2",
        _ => "evolve-v3",
    };
    let mut cmd = std::process::Command::new(util::release_binary(name));
    cmd.args(args).env("RUST_LOG", "warn");
    util::run(&mut cmd, what)
}

pub fn run_section(opts: &Opts) -> Section {
    let rows = opts.rows();
    let cluster = util::cluster();
    let murl = cluster.create_database("upgrade_master");
    let rurl = cluster.create_database("upgrade_replica");
    let mut m = cluster.connect("upgrade_master");
    let mut r = cluster.connect("upgrade_replica");
    exec(&mut m, &evolve("v1/tables.sql"));
    exec(&mut r, &evolve("v1/tables.sql"));
    exec(
        &mut m,
        &format!(
            "INSERT INTO item SELECT g, 'item number ' || g, g % 1000, g * 0.25 \
             FROM generate_series(1, {rows}) g"
        ),
    );
    let feed = tempfile::tempdir().expect("temp dir");
    let dir = feed.path().to_str().unwrap();
    run(1, &["install", "--db", &murl], "install v1");
    run(3, &["export", "--db", &murl, "--out", dir], "export");
    run(3, &["import", "--db", &rurl, "--from", dir], "import");
    exec(&mut m, &evolve("v2/migrate.sql"));
    run(2, &["install", "--db", &murl], "install v2");
    let dump = run(3, &["dump", "--db", &murl, "--out", dir], "boundary dump");
    exec(&mut r, "CHECKPOINT");
    let apply = run(
        3,
        &["apply", "--db", &rurl, "--from", dir],
        "boundary apply",
    );
    let compare = run(
        3,
        &["compare", "--db", &murl, "--replica", &rurl],
        "compare",
    );
    assert!(
        compare.stdout.contains("replica identical"),
        "{}",
        compare.stdout
    );

    // The baseline: the same rows, COPY'd into an empty table of version 2's shape.
    let rows_file = feed.path().join("rows.copy");
    util::copy_out(
        &mut m,
        "COPY (SELECT id, name, qty, price, weight_grams FROM item) TO STDOUT",
        Some(&rows_file),
    );
    exec(
        &mut r,
        "CREATE TABLE item_baseline (id integer PRIMARY KEY, name text NOT NULL, qty bigint NOT NULL, \
         price numeric(12,2), weight_grams integer NOT NULL); CHECKPOINT",
    );
    let start = Instant::now();
    util::copy_in(&mut r, "COPY item_baseline FROM STDIN", &rows_file);
    let copy_time = start.elapsed();
    eprintln!(
        "  boundary apply: {} (COPY {}), dump {}",
        secs(apply.elapsed),
        secs(copy_time),
        secs(dump.elapsed)
    );

    let mut section = Section::new(
        "8. Schema change: the boundary packet",
        "mirror apply",
        "COPY FROM STDIN",
    );
    section.intro.push(format!(
        "The schema-change test's layouts (tests/evolve) on a {r}-row `item`: version 2 adds a NOT NULL \
         column with a default (its values must travel), widens two columns, drops a table and adds one. \
         `mirror apply` (release binary, wall time) of the boundary packet: fetch and verify, ALTER the \
         replica's tables, empty `item`, stage and insert its {r} reloaded rows, record the position, commit, \
         all in one transaction; against `COPY FROM STDIN` of the same rows into an empty table of the new \
         shape with the same primary key. Ratio = COPY time / apply time.",
        r = rows_label(rows)
    ));
    section.rows.push(
        Row::new(
            format!("{} rows reloaded at the boundary", rows_label(rows)),
            format!("{} ({})", secs(apply.elapsed), rate(rows, apply.elapsed)),
            format!("{} ({})", secs(copy_time), rate(rows, copy_time)),
        )
        .ratio(copy_time.as_secs_f64() / apply.elapsed.as_secs_f64())
        .at_least(0.5),
    );
    section.notes.push(format!(
        "The boundary cut (`dump`, every row of `item` read in the cut's snapshot) took {}; apply's peak RSS {}.",
        secs(dump.elapsed),
        util::mb(apply.max_rss)
    ));
    section
}

//! Schema changes travel through the feed (contract §5): a master goes from layout 1 to 2 to 3
//! (tests/evolve: widened, retyped and added columns, a dropped table, a table that joins with
//! rows, a retyped key, a moved table), its application's migrations and the capture installs in
//! that order, with writes throughout and the old dumper running across. Mirrors follow
//! without a re-import: one on the newest binary from the start, one on the old binary that
//! refuses cleanly and then catches up through both upgrades in one run, and one started from an
//! export taken after the change. Each compares equal to the master, table by table.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replgen_testkit::Cluster;

fn bin(version: u32) -> &'static str {
    match version {
        1 => env!("CARGO_BIN_EXE_evolve-v1"),
        2 => env!("CARGO_BIN_EXE_evolve-v2"),
        3 => env!("CARGO_BIN_EXE_evolve-v3"),
        _ => unreachable!(),
    }
}

fn evolve(file: &str) -> PathBuf {
    common::root().join("tests/evolve").join(file)
}

fn run(version: u32, args: &[&str]) -> Output {
    Command::new(bin(version))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the evolve mirror")
}

fn ok(version: u32, args: &[&str]) -> String {
    let out = run(version, args);
    assert!(
        out.status.success(),
        "evolve-v{version} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(version: u32, args: &[&str], code: i32) -> String {
    let out = run(version, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "evolve-v{version} {args:?} should exit {code}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sql_file(cluster: &Cluster, db: &str, file: &str) {
    let text = std::fs::read_to_string(evolve(file)).unwrap();
    cluster.psql(db, &text);
}

/// Writes to every table of the master as its layout `version` has them: inserts, updates and
/// deletes, so that every packet carries every operation.
fn write(master: &mut postgres::Client, version: u32, round: i32) {
    let base = round * 1000;
    let qty = if version >= 3 { "'q' || g" } else { "g" };
    let label = if version >= 3 { "title" } else { "label" };
    let extra = if version >= 2 { ", weight_grams" } else { "" };
    let extra_value = if version >= 2 { ", g % 7" } else { "" };
    let price = if version >= 3 {
        "g * 0.5"
    } else {
        "CASE WHEN g % 4 = 0 THEN NULL ELSE g * 0.5 END"
    };
    master
        .batch_execute(&format!(
            "INSERT INTO item (id, name, qty, price{extra}) \
             SELECT g, 'item ' || g || E'\\t\\\\ ' || {round}, {qty}, {price}{extra_value} \
             FROM generate_series({base} + 1, {base} + 300) g; \
             UPDATE item SET name = name || ' updated' WHERE id % 5 = 0; \
             DELETE FROM item WHERE id % 11 = 0 AND id > {base}; \
             INSERT INTO tag (id, {label}) SELECT g, 'tag ' || g FROM generate_series({base} + 1, {base} + 40) g; \
             UPDATE tag SET {label} = {label} || ' ' || {round} WHERE id % 4 = 0; \
             DELETE FROM tag WHERE id % 13 = 0;"
        ))
        .unwrap();
    // Only version 3 sets tag.mood (to the label it adds): version 2's boundary finds the new
    // column NULL everywhere and need not send tag.
    if version >= 3 {
        master
            .batch_execute(&format!(
                "UPDATE tag SET mood = 'great' WHERE id > {base} AND id % 3 = 0"
            ))
            .unwrap();
    }
    if version == 1 {
        master
            .batch_execute(&format!(
                "INSERT INTO note SELECT g, 'note ' || g FROM generate_series({base} + 1, {base} + 20) g"
            ))
            .unwrap();
    } else {
        let shelf = if version >= 3 {
            "storage.shelf"
        } else {
            "shelf"
        };
        master
            .batch_execute(&format!(
                "INSERT INTO {shelf} (id, name) SELECT g, 'new shelf ' || g FROM generate_series({base} + 1, {base} + 10) g; \
                 UPDATE {shelf} SET name = name || '!' WHERE id % 2 = 0;"
            ))
            .unwrap();
    }
}

/// `table`'s columns in their order.
fn column_order(c: &mut postgres::Client, table: &str) -> String {
    c.query_one(
        "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute \
         WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
        &[&table],
    )
    .unwrap()
    .get(0)
}

/// The `# reload` header line of the feed's newest packet.
fn newest_reload(feed: &Path) -> String {
    let xml = common::feed::index(feed);
    let newest = xml
        .match_indices("<packet ")
        .map(|(at, _)| {
            common::feed::attr(&xml[at..], "serial")
                .parse::<u64>()
                .unwrap()
        })
        .max()
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(
            std::fs::File::open(common::feed::packet_file(feed, newest)).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    text.lines()
        .find(|l| l.starts_with("# reload "))
        .unwrap_or_default()
        .to_string()
}

struct Mirror {
    name: String,
    db: String,
}

impl Mirror {
    fn apply(&self, version: u32, feed: &Path) -> String {
        ok(
            version,
            &["apply", "--db", &self.db, "--from", feed.to_str().unwrap()],
        )
    }

    fn assert_identical(&self, version: u32, master: &str) {
        let out = ok(version, &["compare", "--db", master, "--replica", &self.db]);
        assert!(out.contains("replica identical"), "{out}");
    }

    fn position(&self, cluster: &Cluster) -> (i64, i32) {
        let row = cluster
            .connect(&self.name)
            .query_one(
                "SELECT serial, schema_version FROM replgen.replica_state",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    }
}

#[test]
fn mirrors_follow_two_schema_changes_without_a_reimport() {
    let cluster = Cluster::shared();
    let master_name = Cluster::unique_name("evolve_master");
    let master = cluster.create_database(&master_name);
    let feed_dir = tempfile::tempdir().unwrap();
    let feed = feed_dir.path().join("feed");
    let feed_s = feed.to_str().unwrap();
    let new_mirror = |name: &str, tables: &str| {
        let name = Cluster::unique_name(name);
        let db = cluster.create_database(&name);
        sql_file(cluster, &name, tables);
        Mirror { name, db }
    };

    // Version 1: the master, its capture, an export, and two mirrors of it.
    sql_file(cluster, &master_name, "v1/tables.sql");
    let mut m = cluster.connect(&master_name);
    write(&mut m, 1, 0);
    ok(1, &["install", "--db", &master]);
    ok(1, &["export", "--db", &master, "--out", feed_s]);
    let newest = new_mirror("evolve_newest", "v1/tables.sql");
    let old = new_mirror("evolve_old", "v1/tables.sql");
    for mirror in [&newest, &old] {
        ok(3, &["import", "--db", &mirror.db, "--from", feed_s]);
    }
    write(&mut m, 1, 1);
    ok(1, &["dump", "--db", &master, "--out", feed_s]);
    newest.apply(3, &feed);
    old.apply(1, &feed);
    newest.assert_identical(1, &master);

    // The application migrates to version 2 while the old dumper keeps running: it refuses,
    // naming table and column, and keeps what is pending.
    write(&mut m, 1, 2);
    sql_file(cluster, &master_name, "v2/migrate.sql");
    write(&mut m, 2, 3);
    let refused = fails(1, &["dump", "--db", &master, "--out", feed_s], 1);
    assert!(refused.contains("item.qty"), "{refused}");
    // The version-2 capture goes in; the old dumper now refuses the version it does not know.
    ok(2, &["install", "--db", &master]);
    let refused = fails(1, &["dump", "--db", &master, "--out", feed_s], 1);
    assert!(refused.contains("schema_version 2"), "{refused}");
    write(&mut m, 2, 4);
    // The newest binary cuts the boundary packet of version 2.
    ok(3, &["dump", "--db", &master, "--out", feed_s]);
    // item's added column holds values and shelf joined with rows: both reloaded; tag's new
    // columns are NULL everywhere and its label only widened: its rows are not sent again.
    assert_eq!(newest_reload(&feed), "# reload 1 4");

    newest.apply(3, &feed);
    assert_eq!(newest.position(cluster).1, 2);
    newest.assert_identical(2, &master);
    // The old binary refuses the new version cleanly: exit 1, both versions named, nothing
    // changed.
    let before = old.position(cluster);
    let refused = fails(1, &["apply", "--db", &old.db, "--from", feed_s], 1);
    assert!(
        refused.contains("schema_version 2") && refused.contains("upgrade the mirror binary"),
        "{refused}"
    );
    assert_eq!(old.position(cluster), before);

    // A view of the mirror's own on the column that version 3 renames.
    cluster.psql(
        &newest.name,
        "CREATE VIEW tag_labels AS SELECT label FROM tag",
    );

    // Version 3, the same way, with a cut between the application's migration and the install.
    write(&mut m, 2, 5);
    ok(3, &["dump", "--db", &master, "--out", feed_s]);
    // Installed before the application's migration, version 3 is refused, naming what differs
    // (the enum label it needs among it); nothing changes.
    let refused = fails(3, &["install", "--db", &master], 1);
    assert!(
        refused.contains("item.qty") && refused.contains("lacks the label(s) great"),
        "{refused}"
    );
    sql_file(cluster, &master_name, "v3/migrate.sql");
    write(&mut m, 3, 6);
    fails(3, &["dump", "--db", &master, "--out", feed_s], 1);
    ok(3, &["install", "--db", &master]);
    // An older binary's install over the newer capture is refused, changing nothing (it used to
    // take the capture back to version 2, and every later cut refused).
    let refused = fails(2, &["install", "--db", &master], 1);
    assert!(
        refused.contains("schema_version 3, newer than this binary's 2"),
        "{refused}"
    );
    write(&mut m, 3, 7);
    ok(3, &["dump", "--db", &master, "--out", feed_s]);
    assert_eq!(newest_reload(&feed), "# reload 1 2 4");
    write(&mut m, 3, 8);
    ok(3, &["dump", "--db", &master, "--out", feed_s]);

    newest.apply(3, &feed);
    newest.assert_identical(3, &master);
    // tag.label, renamed title, was renamed in place: the mirror's own view on it still reads it,
    // and the columns stand in the master's order (not dropped and added at the end).
    let mut n = cluster.connect(&newest.name);
    let titles: i64 = n
        .query_one("SELECT count(label) FROM tag_labels", &[])
        .unwrap()
        .get(0);
    let tags: i64 = m.query_one("SELECT count(*) FROM tag", &[]).unwrap().get(0);
    assert_eq!(titles, tags);
    assert_eq!(column_order(&mut n, "tag"), column_order(&mut m, "tag"));
    // The old mirror, on the new binary, goes through both upgrades in one catch-up.
    old.apply(3, &feed);
    assert_eq!(old.position(cluster).1, 3);
    old.assert_identical(3, &master);

    // A new mirror while the latest export is still version 1's: its tables, as the newest
    // binary's `init` makes them, are version 3's, and the import says how to start instead
    // (it used to fail on a NOT NULL column, or succeed and leave the upgrade stuck).
    let empty_mirror = |name: &str| {
        let name = Cluster::unique_name(name);
        let db = cluster.create_database(&name);
        Mirror { name, db }
    };
    let late = empty_mirror("evolve_late");
    ok(3, &["init", "--db", &late.db]);
    let refused = fails(3, &["import", "--db", &late.db, "--from", feed_s], 1);
    assert!(
        refused.contains("is of schema_version 1") && refused.contains("init --schema-version 1"),
        "{refused}"
    );
    let late = empty_mirror("evolve_late_v1");
    ok(3, &["init", "--db", &late.db, "--schema-version", "1"]);
    ok(3, &["import", "--db", &late.db, "--from", feed_s]);
    late.apply(3, &feed);
    late.assert_identical(3, &master);

    // A mirror started from an export taken after the change, and one still at version 1 that
    // replaces its tables with that export (upgraded first, in the import's transaction).
    let stale = new_mirror("evolve_stale", "v1/tables.sql");
    ok(3, &["import", "--db", &stale.db, "--from", feed_s]);
    ok(3, &["export", "--db", &master, "--out", feed_s]);
    ok(
        3,
        &["import", "--replace", "--db", &stale.db, "--from", feed_s],
    );
    assert_eq!(stale.position(cluster).1, 3);
    let fresh = new_mirror("evolve_fresh", "v3/tables.sql");
    ok(3, &["import", "--db", &fresh.db, "--from", feed_s]);
    write(&mut m, 3, 9);
    ok(3, &["dump", "--db", &master, "--out", feed_s]);
    for mirror in [&newest, &old, &fresh, &stale] {
        mirror.apply(3, &feed);
        mirror.assert_identical(3, &master);
    }
}

/// A master at version 1 with `items` rows, exported, and a mirror imported from it (on the
/// newest binary); then the application's migration to version 2, the version-2 capture and
/// its boundary packet.
struct AtBoundary {
    cluster: &'static Cluster,
    master: String,
    feed: tempfile::TempDir,
    mirror: Mirror,
}

impl AtBoundary {
    fn new(name: &str, items: i32) -> AtBoundary {
        let cluster = Cluster::shared();
        let master_name = Cluster::unique_name(&format!("{name}_master"));
        let master = cluster.create_database(&master_name);
        sql_file(cluster, &master_name, "v1/tables.sql");
        ok(1, &["install", "--db", &master]);
        let mut m = cluster.connect(&master_name);
        m.batch_execute(&format!(
            "INSERT INTO item SELECT g, 'item ' || g, g, g * 0.25 FROM generate_series(1, {items}) g; \
             INSERT INTO tag SELECT g, 'tag ' || g FROM generate_series(1, 100) g; \
             INSERT INTO note SELECT g, 'note ' || g FROM generate_series(1, 100) g;"
        ))
        .unwrap();
        let feed = tempfile::tempdir().unwrap();
        let feed_s = feed.path().to_str().unwrap();
        ok(1, &["export", "--db", &master, "--out", feed_s]);
        let mirror_name = Cluster::unique_name(&format!("{name}_mirror"));
        let db = cluster.create_database(&mirror_name);
        sql_file(cluster, &mirror_name, "v1/tables.sql");
        let mirror = Mirror {
            name: mirror_name,
            db,
        };
        ok(3, &["import", "--db", &mirror.db, "--from", feed_s]);
        sql_file(cluster, &master_name, "v2/migrate.sql");
        ok(2, &["install", "--db", &master]);
        ok(3, &["dump", "--db", &master, "--out", feed_s]);
        AtBoundary {
            cluster,
            master,
            feed,
            mirror,
        }
    }

    fn feed(&self) -> &str {
        self.feed.path().to_str().unwrap()
    }

    fn apply_args(&self) -> Vec<&str> {
        vec!["apply", "--db", &self.mirror.db, "--from", self.feed()]
    }

    /// The mirror is wholly at version 1: its position, and every table as the template has it
    /// (compared in layout 1), with no version-2 table beside them.
    fn assert_wholly_before(&self, template: &Mirror) {
        assert_eq!(self.mirror.position(self.cluster).1, 1);
        let out = ok(
            1,
            &[
                "compare",
                "--db",
                &template.db,
                "--replica",
                &self.mirror.db,
            ],
        );
        assert!(out.contains("replica identical"), "{out}");
        let shelf = self
            .cluster
            .psql(&self.mirror.name, "SELECT to_regclass('shelf') IS NULL");
        assert_eq!(
            shelf.trim(),
            "t",
            "a version-2 table exists before the upgrade"
        );
    }
}

#[test]
fn a_boundary_packet_killed_at_any_instant_leaves_the_mirror_wholly_before_or_after() {
    const KILLS: usize = 10;
    let at = AtBoundary::new("evolve_kill", 20_000);
    // The mirror as it was before the boundary packet, to start each round from.
    let template = Mirror {
        name: Cluster::unique_name("evolve_kill_template"),
        db: String::new(),
    };
    let copy = |from: &str, to: &str| {
        at.cluster.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{to}\" WITH (FORCE)"),
        );
        at.cluster.psql(
            "postgres",
            &format!("CREATE DATABASE \"{to}\" TEMPLATE \"{from}\""),
        );
    };
    copy(&at.mirror.name, &template.name);
    let template = Mirror {
        db: at.cluster.url(&template.name),
        ..template
    };
    let apply = at.apply_args();

    // The windows a random kill rarely hits, on purpose: staged, and just before the commit.
    for point in ["apply-staged", "apply-before-commit"] {
        let out = Command::new(bin(3))
            .args(&apply)
            .env("REPLGEN_CRASH_AT", point)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("crash point {point}")),
            "{point}: not reached"
        );
        at.assert_wholly_before(&template);
    }

    // Kills at random instants within a measured uninterrupted run.
    let started = std::time::Instant::now();
    ok(3, &apply);
    let run = started.elapsed();
    at.mirror.assert_identical(2, &at.master);
    let mut rng = common::workload::Rng::new(11);
    let (mut killed, mut rounds) = (0, 0);
    while killed < KILLS && rounds < 400 {
        rounds += 1;
        if at.mirror.position(at.cluster).1 == 2 {
            copy(&template.name, &at.mirror.name);
        }
        let delay = std::time::Duration::from_micros(rng.below(run.as_micros().max(1) as u64));
        let ended = common::run_killed_after(bin(3), &apply, delay);
        if at.mirror.position(at.cluster).1 == 1 {
            at.assert_wholly_before(&template);
            if let common::Ended::Killed = ended {
                killed += 1;
            }
        } else {
            at.mirror.assert_identical(2, &at.master);
        }
    }
    assert_eq!(
        killed, KILLS,
        "only {killed} of {rounds} boundary applies were killed mid-run"
    );
    ok(3, &apply);
    at.mirror.assert_identical(2, &at.master);
}

#[test]
fn an_upgrade_that_would_break_a_mirror_object_is_refused_before_anything_changes() {
    let at = AtBoundary::new("evolve_blocked", 100);
    at.cluster.psql(
        &at.mirror.name,
        "CREATE VIEW item_qty AS SELECT id, qty FROM item; \
         CREATE VIEW note_bodies AS SELECT body FROM note;",
    );
    let before = at.mirror.position(at.cluster);
    let refused = fails(3, &at.apply_args(), 1);
    assert!(
        refused.contains("view item_qty") && refused.contains("item.qty"),
        "{refused}"
    );
    assert!(refused.contains("view note_bodies"), "{refused}");
    assert_eq!(at.mirror.position(at.cluster), before);
    // The old binary, following, stops on the version it does not know instead of retrying.
    let refused = fails(
        1,
        &[
            "apply",
            "--follow",
            "--interval",
            "50ms",
            "--db",
            &at.mirror.db,
            "--from",
            at.feed(),
        ],
        1,
    );
    assert!(refused.contains("upgrade the mirror binary"), "{refused}");
    // Without the views the same packet applies; --keep-dropped keeps the dropped table, and
    // the mirror's own SQL for version 2 runs in the upgrade's transaction (a failing one
    // leaves everything as it was).
    at.cluster.psql(
        &at.mirror.name,
        "DROP VIEW item_qty; DROP VIEW note_bodies;",
    );
    let own_sql = tempfile::tempdir().unwrap();
    let own_sql_dir = own_sql.path().to_str().unwrap().to_string();
    std::fs::write(
        own_sql.path().join("v2.sql"),
        "CREATE VIEW heavy AS SELECT id FROM no_such_table;",
    )
    .unwrap();
    // A folder that is not there, or a file the upgrade would never run, is refused first.
    let mut missing = at.apply_args();
    missing.extend(["--replica-sql", "/nonexistent/replica-sql"]);
    let refused = fails(3, &missing, 1);
    assert!(refused.contains("/nonexistent/replica-sql"), "{refused}");
    std::fs::write(own_sql.path().join("V2.sql"), "SELECT 1;").unwrap();
    let mut apply = at.apply_args();
    apply.extend(["--keep-dropped", "--replica-sql", &own_sql_dir]);
    let refused = fails(3, &apply, 1);
    assert!(refused.contains("V2.sql would never run"), "{refused}");
    assert_eq!(at.mirror.position(at.cluster), before);
    std::fs::remove_file(own_sql.path().join("V2.sql")).unwrap();
    let refused = fails(3, &apply, 1);
    assert!(refused.contains("v2.sql failed"), "{refused}");
    assert_eq!(at.mirror.position(at.cluster), before);
    std::fs::write(
        own_sql.path().join("v2.sql"),
        "CREATE VIEW heavy AS SELECT id, weight_grams FROM item WHERE weight_grams > 100;",
    )
    .unwrap();
    ok(3, &apply);
    at.mirror.assert_identical(2, &at.master);
    let kept = at
        .cluster
        .psql(&at.mirror.name, "SELECT count(*) FROM note");
    assert_eq!(kept.trim(), "100");
    let view = at
        .cluster
        .psql(&at.mirror.name, "SELECT to_regclass('heavy') IS NOT NULL");
    assert_eq!(view.trim(), "t");
}

#[test]
fn dump_resync_publishes_a_table_the_capture_missed() {
    let at = AtBoundary::new("evolve_resync", 100);
    ok(3, &at.apply_args());
    let master_name = at.master.rsplit("dbname=").next().unwrap().to_string();
    // Rows written while the capture's insert trigger was disabled never reach the feed...
    at.cluster.psql(
        &master_name,
        "ALTER TABLE tag DISABLE TRIGGER replgen_insert; \
         INSERT INTO tag (id, label) SELECT g, 'missed ' || g FROM generate_series(1000, 1010) g; \
         ALTER TABLE tag ENABLE ALWAYS TRIGGER replgen_insert;",
    );
    let out = run(
        3,
        &["compare", "--db", &at.master, "--replica", &at.mirror.db],
    );
    assert!(!out.status.success());
    // ...until a resync publishes the whole table.
    let refused = fails(
        3,
        &[
            "dump",
            "--db",
            &at.master,
            "--out",
            at.feed(),
            "--resync",
            "nope",
        ],
        1,
    );
    assert!(refused.contains("public.tag"), "{refused}");
    ok(
        3,
        &[
            "dump",
            "--db",
            &at.master,
            "--out",
            at.feed(),
            "--resync",
            "tag",
        ],
    );
    assert_eq!(newest_reload(at.feed.path()), "# reload 2");
    ok(3, &at.apply_args());
    at.mirror.assert_identical(2, &at.master);
}

/// A `dump --every` of the newest binary running throughout: it refuses to cut while the
/// application's migration has run and the capture is not yet installed (pending changes kept),
/// carries on instead of exiting, and cuts the boundary packet once the new capture is in.
#[test]
fn a_running_dumper_carries_on_across_the_migration_and_the_install() {
    let cluster = Cluster::shared();
    let master_name = Cluster::unique_name("evolve_every_master");
    let master = cluster.create_database(&master_name);
    sql_file(cluster, &master_name, "v1/tables.sql");
    ok(1, &["install", "--db", &master]);
    let mut m = cluster.connect(&master_name);
    write(&mut m, 1, 0);
    let feed = tempfile::tempdir().unwrap();
    let feed_s = feed.path().to_str().unwrap().to_string();
    ok(1, &["export", "--db", &master, "--out", &feed_s]);
    let mirror_name = Cluster::unique_name("evolve_every_mirror");
    let mirror = Mirror {
        db: cluster.create_database(&mirror_name),
        name: mirror_name,
    };
    sql_file(cluster, &mirror.name, "v1/tables.sql");
    ok(3, &["import", "--db", &mirror.db, "--from", &feed_s]);

    let mut dumper = common::Child::spawn(
        Command::new(bin(3))
            .args([
                "dump", "--every", "100ms", "--db", &master, "--out", &feed_s,
            ])
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let pending = |m: &mut postgres::Client| -> i64 {
        let tables: Vec<String> = m
            .query("SELECT table_id FROM replgen.registry", &[])
            .unwrap()
            .iter()
            .map(|r| format!("replgen.log_{}", r.get::<_, i32>(0)))
            .collect();
        tables
            .iter()
            .map(|t| {
                m.query_one(&format!("SELECT count(*) FROM {t}"), &[])
                    .unwrap()
                    .get::<_, i64>(0)
            })
            .sum()
    };
    write(&mut m, 1, 1);
    common::wait_until("the running dumper cuts version 1", || pending(&mut m) == 0);
    sql_file(cluster, &master_name, "v2/migrate.sql");
    write(&mut m, 2, 2);
    // Refusing, it keeps the changes; it is still running.
    assert!(pending(&mut m) > 0);
    assert!(
        dumper.try_wait().unwrap().is_none(),
        "the dumper exited on a refusal"
    );
    ok(2, &["install", "--db", &master]);
    common::wait_until("the running dumper cuts the boundary packet", || {
        pending(&mut m) == 0 && common::feed::index(feed.path()).contains("schema_version=\"2\"")
    });
    Command::new("kill")
        .args(["-TERM", &dumper.id().to_string()])
        .status()
        .unwrap();
    assert!(dumper.wait().unwrap().success());
    mirror.apply(3, feed.path());
    mirror.assert_identical(2, &master);
}

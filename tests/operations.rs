//! What operators do to masters and mirrors (contract §6): apply pointed at the master, replica
//! tables with their own foreign keys and triggers, writes under session_replication_role =
//! replica, and what `compare` and `status` tell a person.

mod common;

use common::{Env, Workload};
use replgen_testkit::Cluster;

/// The `area` table's id in schema.yaml.
const AREA: &str = "2";

fn insert_area(client: &mut postgres::Client, id: i32, name: &str) {
    client
        .execute(
            "INSERT INTO area (id, gid, name) VALUES ($1, gen_random_uuid(), $2)",
            &[&id, &name],
        )
        .unwrap();
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// The lines of the packets listed after `after`, for table `table`.
fn lines_after(env: &Env, after: u64, table: &str) -> Vec<String> {
    common::packet_lines(env.feed.path())
        .into_iter()
        .filter(|(serial, line)| *serial > after && line.split('\t').next() == Some(table))
        .map(|(_, line)| line)
        .collect()
}

#[test]
fn apply_and_import_against_the_master_refuse_and_change_nothing() {
    let env = Env::new("ops_master");
    let mut master = env.connect_master();
    Workload::new(&mut master, &env.schema, 11, 0).run(&mut master, 100, false);
    insert_area(&mut master, 900_001, "old");
    env.dump();
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    // The master's own newer change, not yet dumped.
    master
        .execute("UPDATE area SET name = 'NEW' WHERE id = 900001", &[])
        .unwrap();
    let before = common::digests(&env.master, &env.schema);
    for args in [
        vec!["apply", "--db", &env.master, "--from", env.feed()],
        vec![
            "import",
            "--db",
            &env.master,
            "--from",
            env.feed(),
            "--replace",
        ],
    ] {
        let err = env.mirror_fails(&args, 1);
        assert!(
            err.contains("publishes a feed") && err.contains("--cascade"),
            "{err}"
        );
    }
    assert_eq!(common::digests(&env.master, &env.schema), before);
    let name: String = master
        .query_one("SELECT name FROM area WHERE id = 900001", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "NEW");
    let serial = common::packet_lines(env.feed.path())
        .last()
        .map(|(s, _)| *s)
        .unwrap();
    // The next packet carries the master's one change and nothing re-applied.
    let out = env.dump();
    assert!(out.contains(" 1 rows"), "{out}");
    let lines = lines_after(&env, serial, AREA);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\tNEW\t"), "{lines:?}");
}

/// `uninstall` on a master whose change logs hold changes no packet has published refuses,
/// naming the tables, and changes nothing (it used to drop them with the logs, and the feed's
/// replicas stayed behind for good, silently; found by an operator review). After a dump it
/// goes ahead, and `--drop-uncut-changes` drops them when that is meant.
#[test]
fn uninstall_refuses_to_drop_changes_no_packet_has_published() {
    let env = Env::new("ops_uninstall_uncut");
    let mut master = env.connect_master();
    insert_area(&mut master, 910_001, "published");
    env.dump();
    env.apply();
    insert_area(&mut master, 910_002, "not yet cut");
    let err = env.mirror_fails(&["uninstall", "--db", &env.master], 1);
    assert!(
        err.contains("there are changes no packet has published yet, of public.area")
            && err.contains("--drop-uncut-changes"),
        "{err}"
    );
    assert!(env.pending_changes() > 0, "the refusal kept the change");
    // Nothing was changed: the next dump publishes the change, and the replica gets it.
    env.dump();
    env.apply();
    env.assert_identical();
    env.mirror_ok(&["uninstall", "--db", &env.master]);
    env.mirror_ok(&["install", "--db", &env.master]);
    insert_area(&mut master, 910_003, "dropped on purpose");
    env.mirror_ok(&["uninstall", "--db", &env.master, "--drop-uncut-changes"]);
    let left: bool = master
        .query_one("SELECT to_regclass('replgen.meta') IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(left, "uninstall removed the capture");
    // Run again, it says there was nothing to remove (it said "removed change capture").
    let out = env.mirror_ok(&["uninstall", "--db", &env.master]);
    assert!(out.contains("no change capture was installed"), "{out}");
}

/// A writer whose change is logged but not yet committed when `uninstall` starts: uninstall
/// waits for it (it locks the tables against writers before it reads the logs), then finds the
/// change and refuses. Read before the lock, the logs were empty, and the change went with them
/// once the writer committed.
#[test]
fn uninstall_waits_for_a_writer_in_progress_and_keeps_its_change() {
    let env = Env::new("ops_uninstall_writer");
    let mut writer = env.connect_master();
    let mut tx = writer.transaction().unwrap();
    tx.execute(
        "INSERT INTO area (id, gid, name) VALUES (920001, gen_random_uuid(), 'in flight')",
        &[],
    )
    .unwrap();
    let mut uninstall = common::Child::spawn(
        std::process::Command::new(common::mirror_bin())
            .args(["uninstall", "--db", &env.master])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    );
    let mut watch = env.connect_master();
    common::wait_until("uninstall waits for the writer", || {
        count(
            &mut watch,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ) > 0
    });
    tx.commit().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut uninstall.stderr.take().unwrap(), &mut err).unwrap();
    let status = uninstall.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("there are changes no packet has published yet, of public.area"),
        "{err}"
    );
    env.dump();
    env.apply();
    env.assert_identical();
}

/// A replica that lost its position (its replgen schema dropped, say by `uninstall --forget-position`)
/// is not applied from packet 1 over its rows: that left rows of its own beside the master's
/// (found by an operator review). `uninstall` itself refuses on a replica unless told.
#[test]
fn a_replica_without_a_position_is_not_applied_over_its_rows() {
    let env = Env::new("ops_lost_position");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    // A dump against the replica says what it is (it used to say to run `install` there).
    let err = env.mirror_fails(&["dump", "--db", &env.replica, "--out", env.feed()], 1);
    assert!(
        err.contains("is a replica (at packet 1) with no change capture"),
        "{err}"
    );
    let err = env.mirror_fails(&["uninstall", "--db", &env.replica], 1);
    assert!(err.contains("is a replica (at packet 1)"), "{err}");
    env.mirror_ok(&["uninstall", "--db", &env.replica, "--forget-position"]);
    let before = env.replica_digest();
    let err = env.mirror_fails(&["apply", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(
        err.contains("has no position, but public.area has rows"),
        "{err}"
    );
    assert_eq!(env.replica_digest(), before);
    // The way forward it names.
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    env.mirror_ok(&[
        "import",
        "--replace",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
    ]);
    insert_area(&mut master, 900_002, "second");
    env.dump();
    env.apply();
    env.assert_identical();
}

#[test]
fn a_cascading_mirror_applies_with_cascade_and_its_capture_publishes_it() {
    let env = Env::new("ops_cascade");
    let mut master = env.connect_master();
    Workload::new(&mut master, &env.schema, 12, 0).run(&mut master, 100, false);
    env.dump();
    env.apply();
    // Installing on a replica is a mistake unless it says it means a cascading mirror.
    let err = env.mirror_fails(&["install", "--db", &env.replica], 1);
    assert!(
        err.contains("is a replica") && err.contains("install --cascade"),
        "{err}"
    );
    let mut replica = env.connect_replica();
    let meta: Option<String> = replica
        .query_one("SELECT to_regclass('replgen.meta')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(meta, None, "nothing may be installed");
    Workload::new(&mut master, &env.schema, 13, 0).run(&mut master, 50, false);
    env.dump();
    env.mirror_ok(&["install", "--db", &env.replica, "--cascade"]);
    let err = env.mirror_fails(&["apply", "--db", &env.replica, "--from", env.feed()], 1);
    assert!(err.contains("publishes a feed"), "{err}");
    env.mirror_ok(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
        "--cascade",
    ]);
    env.assert_identical();
    // Applied under session_replication_role = replica, yet captured (ENABLE ALWAYS).
    let second = tempfile::tempdir().unwrap();
    let out = env.mirror_ok(&[
        "dump",
        "--db",
        &env.replica,
        "--out",
        second.path().to_str().unwrap(),
    ]);
    assert!(out.starts_with("packet 1: "), "{out}");
    // What it applied after its capture was installed: the feed's packets after the first.
    let ours = common::packet_lines(env.feed.path())
        .iter()
        .filter(|(serial, _)| *serial > 1)
        .count();
    assert!(ours > 0);
    assert_eq!(common::packet_lines(second.path()).len(), ours);
}

/// The replica's own objects: a child table with ON DELETE CASCADE on a replicated table, an
/// ENABLE ALWAYS trigger feeding an audit table, and an ordinary trigger.
fn replica_objects(env: &Env) {
    env.connect_replica()
        .batch_execute(
            "CREATE TABLE local_note (id serial PRIMARY KEY, \
                 area_id integer NOT NULL REFERENCES area (id) ON DELETE CASCADE, note text);
             CREATE TABLE audit (area_id integer, name text);
             CREATE TABLE ordinary_fired (area_id integer);
             CREATE FUNCTION audit_area() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO audit VALUES (NEW.id, NEW.name); RETURN NULL; END $$;
             CREATE FUNCTION ordinary_area() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO ordinary_fired VALUES (NEW.id); RETURN NULL; END $$;
             CREATE TRIGGER audit_area AFTER INSERT ON area FOR EACH ROW EXECUTE FUNCTION audit_area();
             ALTER TABLE area ENABLE ALWAYS TRIGGER audit_area;
             CREATE TRIGGER ordinary_area AFTER INSERT ON area FOR EACH ROW EXECUTE FUNCTION ordinary_area();",
        )
        .unwrap();
}

#[test]
fn apply_runs_as_a_subscriber_so_replica_cascades_do_not_fire_and_always_triggers_do() {
    let env = Env::new("ops_fk");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    replica_objects(&env);
    let mut replica = env.connect_replica();
    replica
        .execute(
            "INSERT INTO local_note (area_id, note) VALUES (900001, 'mine')",
            &[],
        )
        .unwrap();
    // Apply deletes and re-inserts the updated row.
    master
        .execute("UPDATE area SET name = 'second' WHERE id = 900001", &[])
        .unwrap();
    env.dump();
    let out = env.apply();
    env.assert_identical();
    assert_eq!(count(&mut replica, "SELECT count(*) FROM local_note"), 1);
    assert_eq!(
        count(
            &mut replica,
            "SELECT count(*) FROM audit WHERE area_id = 900001 AND name = 'second'"
        ),
        1
    );
    assert_eq!(
        count(&mut replica, "SELECT count(*) FROM ordinary_fired"),
        0
    );
    assert!(out.contains("session_replication_role = replica"), "{out}");
}

#[test]
fn a_role_that_may_not_set_the_replication_role_is_refused_naming_what_would_fire() {
    let env = Env::new("ops_role");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    replica_objects(&env);
    let role = Cluster::unique_name("ops_applier");
    let mut replica = env.connect_replica();
    let db: String = replica
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    replica
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT CREATE ON DATABASE \"{db}\" TO {role};
             GRANT USAGE, CREATE ON SCHEMA replgen, public, musicbrainz TO {role};
             GRANT ALL ON ALL TABLES IN SCHEMA replgen, public, musicbrainz TO {role};
             GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role};"
        ))
        .unwrap();
    replica
        .execute(
            "INSERT INTO local_note (area_id, note) VALUES (900001, 'mine')",
            &[],
        )
        .unwrap();
    master
        .execute("UPDATE area SET name = 'second' WHERE id = 900001", &[])
        .unwrap();
    env.dump();
    let as_role = env
        .replica
        .replace("user=postgres", &format!("user={role}"));
    assert_ne!(as_role, env.replica);
    let before = env.replica_digest();
    let err = env.mirror_fails(&["apply", "--db", &as_role, "--from", env.feed()], 1);
    assert!(
        err.contains("session_replication_role")
            && err.contains("local_note_area_id_fkey")
            && err.contains("ON DELETE CASCADE")
            && err.contains("ordinary_area"),
        "{err}"
    );
    // The ENABLE ALWAYS trigger fires in both modes: the replica's own choice, not refused.
    assert!(!err.contains("audit_area"), "{err}");
    assert_eq!(env.replica_digest(), before);
    assert_eq!(count(&mut replica, "SELECT count(*) FROM local_note"), 1);
    // Granted the parameter, the same role applies as a subscriber.
    replica
        .batch_execute(&format!(
            "GRANT SET ON PARAMETER session_replication_role TO {role}"
        ))
        .unwrap();
    let out = env.mirror_ok(&["apply", "--db", &as_role, "--from", env.feed()]);
    assert!(out.contains("session_replication_role = replica"), "{out}");
    env.assert_identical();
    assert_eq!(count(&mut replica, "SELECT count(*) FROM local_note"), 1);
}

#[test]
fn writes_under_session_replication_role_replica_are_captured() {
    let env = Env::new("ops_srr");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    master
        .batch_execute(
            "SET session_replication_role = replica;
             INSERT INTO area (id, gid, name) VALUES (900002, gen_random_uuid(), 'restored');
             UPDATE area SET name = 'changed' WHERE id = 900001;
             SET session_replication_role = origin;",
        )
        .unwrap();
    let out = env.dump();
    assert!(out.starts_with("packet 2: 2 rows"), "{out}");
    env.apply();
    env.assert_identical();
}

#[test]
fn compare_names_the_differing_keys_and_the_database_that_failed() {
    let env = Env::new("ops_compare");
    let mut master = env.connect_master();
    for id in 900_001..900_004 {
        insert_area(&mut master, id, "same");
    }
    env.dump();
    env.apply();
    env.mirror_ok(&["compare", "--db", &env.master, "--replica", &env.replica]);
    env.connect_replica()
        .batch_execute(
            "DELETE FROM area WHERE id = 900001;
             UPDATE area SET name = 'other' WHERE id = 900002;
             INSERT INTO area (id, gid, name) VALUES (900009, gen_random_uuid(), 'extra');",
        )
        .unwrap();
    let out = env.mirror(&["compare", "--db", &env.master, "--replica", &env.replica]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "key 900001: only on the first database",
        "key 900002: different values",
        "key 900009: only on the second database",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}");
    }
    assert!(!stdout.contains("key 900003"), "{stdout}");
    let missing = env.replica.replace("dbname=", "dbname=no_such_db_");
    let err = env.mirror_fails(&["compare", "--db", &env.master, "--replica", &missing], 1);
    assert!(
        err.contains("the second database (--replica)") && err.contains("no_such_db_"),
        "{err}"
    );
    let err = env.mirror_fails(&["compare", "--db", &missing, "--replica", &env.replica], 1);
    assert!(err.contains("the first database (--db)"), "{err}");
}

#[test]
fn status_shows_lag_to_now_and_says_when_packet_created_is_the_exports_time() {
    let env = Env::new("ops_status");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.mirror_ok(&["export", "--db", &env.master, "--out", env.feed()]);
    env.mirror_ok(&["import", "--db", &env.replica, "--from", env.feed()]);
    let status = |json: bool| {
        let mut args = vec!["status", "--db", &env.replica, "--from", env.feed()];
        if json {
            args.push("--json");
        }
        env.mirror_ok(&args)
    };
    let text = status(false);
    assert!(
        text.contains("the export's time") && text.contains("s behind now"),
        "{text}"
    );
    let value: serde_json::Value = serde_json::from_str(status(true).trim()).unwrap();
    assert_eq!(value["imported"], true);
    insert_area(&mut master, 900_002, "second");
    env.dump();
    env.apply();
    assert!(!status(false).contains("the export's time"));
    // Lag to now, not only to the newest packet: a replica whose last packet is old.
    env.connect_replica()
        .execute(
            "UPDATE replgen.replica_state SET packet_created = '2000-01-01T00:00:00.000000Z'",
            &[],
        )
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(status(true).trim()).unwrap();
    assert_eq!(value["imported"], false);
    let now = value["seconds_behind_now"].as_f64().unwrap();
    assert!(now > 20.0 * 365.0 * 86400.0, "{value}");
}

/// A feed of three packets of one new area each, and a pipe whose reader has already gone.
fn three_packets_and_a_closed_pipe(name: &str, first_id: i32) -> (Env, std::io::PipeWriter) {
    let env = Env::new(name);
    let mut master = env.connect_master();
    for id in first_id..first_id + 3 {
        insert_area(&mut master, id, "while nobody reads");
        env.dump();
    }
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    (env, writer)
}

/// `mirror apply | head`: the reader of its report goes away, and the apply must still finish
/// (a panic on the broken pipe would stop it between packets, or fail a batch); `status`, whose
/// report is its result, fails instead.
#[test]
fn a_closed_stdout_stops_the_report_but_not_the_apply() {
    let (env, closed) = three_packets_and_a_closed_pipe("ops_closed_stdout", 910_001);
    let out = std::process::Command::new(common::mirror_bin())
        .args(["apply", "--db", &env.replica, "--from", env.feed()])
        .env_remove("DATABASE_URL")
        .stdout(closed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    env.assert_identical();
    // Where the report is the result, its loss fails the command.
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(common::mirror_bin())
        .args(["status", "--db", &env.replica, "--from", env.feed()])
        .env_remove("DATABASE_URL")
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
}

/// `mirror -v apply 2>&1 | head`: the log goes away with the report, and the apply must still
/// finish (the log's own complaint about the broken pipe used to panic, mid-run).
#[test]
fn a_closed_stderr_stops_the_log_but_not_the_apply() {
    let (env, closed) = three_packets_and_a_closed_pipe("ops_closed_stderr", 920_001);
    let out = std::process::Command::new(common::mirror_bin())
        .args(["-v", "apply", "--db", &env.replica, "--from", env.feed()])
        .env_remove("DATABASE_URL")
        .stdout(closed.try_clone().unwrap())
        .stderr(closed)
        .status()
        .unwrap();
    assert!(out.success(), "{out}");
    env.assert_identical();
}

/// A dumper role subject to row-level security is refused instead of publishing only the rows
/// a policy lets it see (it emptied the log of the others: lost for every replica).
#[test]
fn a_dumper_that_row_level_security_restricts_is_refused_and_loses_nothing() {
    let env = Env::new("ops_rls");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    let role = Cluster::unique_name("ops_dumper");
    let db: String = master
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    master
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT CREATE ON DATABASE \"{db}\" TO {role};
             GRANT USAGE, CREATE ON SCHEMA replgen, public, musicbrainz TO {role};
             GRANT ALL ON ALL TABLES IN SCHEMA replgen, public, musicbrainz TO {role};
             GRANT ALL ON ALL SEQUENCES IN SCHEMA replgen, public, musicbrainz TO {role};
             ALTER TABLE area ENABLE ROW LEVEL SECURITY;
             CREATE POLICY only_the_first ON area FOR SELECT USING (id < 900002);"
        ))
        .unwrap();
    insert_area(&mut master, 900_002, "hidden from the dumper");
    insert_area(&mut master, 900_003, "hidden too");
    let as_role = env.master.replace("user=postgres", &format!("user={role}"));
    assert_ne!(as_role, env.master);
    let err = env.mirror_fails(&["dump", "--db", &as_role, "--out", env.feed()], 1);
    assert!(err.contains("row-level security"), "{err}");
    assert!(env.pending_changes() > 0, "the changes must stay pending");
    // Allowed to see every row, the same role publishes them all.
    master
        .batch_execute(&format!("ALTER ROLE {role} BYPASSRLS"))
        .unwrap();
    env.mirror_ok(&["dump", "--db", &as_role, "--out", env.feed()]);
    env.apply();
    env.assert_identical();
}

/// A column dropped and added again under its name and type passes the layout check, but its
/// values changed with nothing captured: the cut refuses it, naming the column and the way out,
/// and `dump --resync` publishes the table whole (replicas kept the old values, silently).
#[test]
fn a_column_dropped_and_added_again_is_refused_until_its_table_is_resynced() {
    let env = Env::new("ops_readded");
    let mut master = env.connect_master();
    insert_area(&mut master, 900_001, "first");
    insert_area(&mut master, 900_002, "second");
    env.dump();
    env.apply();
    master
        .batch_execute(
            "ALTER TABLE area DROP COLUMN comment;
             ALTER TABLE area ADD COLUMN comment varchar(255) NOT NULL DEFAULT 'again';",
        )
        .unwrap();
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains("public.area.comment") && err.contains("--resync public.area"),
        "{err}"
    );
    // Refused again with a change pending, which stays for the resync.
    insert_area(&mut master, 900_003, "third");
    env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(env.pending_changes() > 0);
    env.dump_with(&["--resync", "public.area"]);
    env.apply();
    env.assert_identical();
    // Recorded by that cut: the next ones go on as before.
    insert_area(&mut master, 900_004, "fourth");
    env.dump();
    env.apply();
    env.assert_identical();
}

/// Staging tables outlive an apply process (making one costs more than merging a small
/// packet); one whose table the replica's operator re-typed since is made again, never used
/// with the old type (a stage of `timestamptz(0)` would round every staged value silently).
#[test]
fn a_kept_staging_table_follows_its_tables_type() {
    let env = Env::new("ops_stage_shape");
    let mut master = env.connect_master();
    let mut replica = env.connect_replica();
    replica
        .batch_execute("ALTER TABLE area ALTER COLUMN last_updated TYPE timestamptz(0)")
        .unwrap();
    insert_area(&mut master, 900_001, "first");
    env.dump();
    env.apply();
    let kept: Option<String> = replica
        .query_one("SELECT to_regclass('replgen.stage_2')::text", &[])
        .unwrap()
        .get(0);
    assert!(kept.is_some(), "the staging table is kept");
    replica
        .batch_execute("ALTER TABLE area ALTER COLUMN last_updated TYPE timestamptz")
        .unwrap();
    master
        .batch_execute(
            "UPDATE area SET last_updated = '2026-01-01 12:00:00.123456+00' WHERE id = 900001",
        )
        .unwrap();
    env.dump();
    env.apply();
    env.assert_identical();
}

/// A SQL_ASCII master holding bytes that are not UTF-8: the cut refuses, naming the table and
/// what the server said (it said only "db error"), and keeps the changes.
#[test]
fn a_sql_ascii_master_with_bytes_that_are_not_utf8_is_refused_saying_why() {
    let cluster = Cluster::shared();
    let name = Cluster::unique_name("ops_sql_ascii");
    cluster
        .connect("postgres")
        .batch_execute(&format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 \
             LC_COLLATE 'C' LC_CTYPE 'C'"
        ))
        .unwrap();
    let master = cluster.url(&name);
    common::psql_file(&master, &common::root().join("tables.sql"));
    let feed = tempfile::tempdir().unwrap();
    let feed = feed.path().to_str().unwrap();
    let mirror = |args: &[&str]| {
        std::process::Command::new(common::mirror_bin())
            .args(args)
            .output()
            .unwrap()
    };
    assert!(mirror(&["install", "--db", &master]).status.success());
    let mut m = postgres::Client::connect(&master, postgres::NoTls).unwrap();
    m.batch_execute(
        "INSERT INTO area (id, gid, name) VALUES (900001, gen_random_uuid(), E'caf\\xe9')",
    )
    .unwrap();
    let out = mirror(&["dump", "--db", &master, "--out", feed]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("public.area"), "{err}");
    assert!(!err.trim_end().ends_with("db error"), "{err}");
}

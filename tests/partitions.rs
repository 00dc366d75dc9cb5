//! A replicated table that is partitioned on the master (contract §6): writes through the table,
//! through leaf and mid-level partitions, COPY into a leaf, rows moved across partitions by an
//! UPDATE of the partition key, TRUNCATE of one leaf, writes under session_replication_role =
//! replica, partitions attached, detached and created between cuts; and the cut's refusal when
//! a trigger is disabled or dropped, or a partition is dropped with its rows. The replica's
//! tables stay plain: partitioning is the master's own business.

mod common;

use common::Env;

/// `artist_tag`'s id in schema.yaml; key (artist, tag).
const ARTIST_TAG: &str = "13";

/// artist_tag, partitioned by range of tag, one partition partitioned again by artist, with a
/// default partition.
const PARTITIONED: &str = "
    DROP TABLE artist_tag;
    CREATE TABLE artist_tag (
        artist integer NOT NULL,
        tag integer NOT NULL,
        count integer NOT NULL,
        last_updated timestamptz DEFAULT now(),
        PRIMARY KEY (artist, tag)
    ) PARTITION BY RANGE (tag);
    CREATE TABLE at_a PARTITION OF artist_tag FOR VALUES FROM (0) TO (100);
    CREATE TABLE at_b PARTITION OF artist_tag FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (artist);
    CREATE TABLE at_b1 PARTITION OF at_b FOR VALUES FROM (MINVALUE) TO (1000);
    CREATE TABLE at_b2 PARTITION OF at_b FOR VALUES FROM (1000) TO (MAXVALUE);
    CREATE TABLE at_default PARTITION OF artist_tag DEFAULT;";

fn setup(name: &str) -> (Env, postgres::Client) {
    let env = Env::new(name);
    let mut master = env.connect_master();
    master.batch_execute(PARTITIONED).unwrap();
    env.mirror_ok(&["install", "--db", &env.master]);
    (env, master)
}

fn cut_and_apply(env: &Env) -> String {
    let out = env.dump();
    env.apply();
    env.assert_identical();
    out
}

/// The artist_tag lines of packet `serial`: (rowid, op).
fn lines_of(env: &Env, serial: u64) -> Vec<(String, String)> {
    common::packet_lines(env.feed.path())
        .into_iter()
        .filter(|(s, line)| *s == serial && line.split('\t').next() == Some(ARTIST_TAG))
        .map(|(_, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[1].to_string(), f[3].to_string())
        })
        .collect()
}

fn dump_refused(env: &Env) -> String {
    env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1)
}

#[test]
fn every_write_to_a_partitioned_table_reaches_the_replica_exactly_once() {
    let (env, mut master) = setup("part_writes");
    // Through the table, into every leaf.
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) VALUES
                 (1, 5, 1), (2, 6, 1), (3, 150, 1), (2000, 150, 1), (4, 900, 1), (5, 7, 1)",
        )
        .unwrap();
    cut_and_apply(&env);
    // Through leaves and the mid-level partition, COPY into a leaf, and moves.
    master
        .batch_execute(
            "INSERT INTO at_b1 (artist, tag, count) VALUES (10, 120, 2);
             UPDATE at_a SET count = 9 WHERE artist = 2;
             DELETE FROM at_default WHERE artist = 4;
             UPDATE artist_tag SET tag = 160 WHERE artist = 1 AND tag = 5;
             UPDATE at_b SET artist = 3000 WHERE artist = 3;
             UPDATE at_b2 SET count = count + 1;",
        )
        .unwrap();
    let mut copy = master
        .copy_in("COPY at_a (artist, tag, count) FROM STDIN")
        .unwrap();
    std::io::Write::write_all(&mut copy, b"20\t30\t3\n21\t31\t3\n").unwrap();
    copy.finish().unwrap();
    master
        .batch_execute(
            "SET session_replication_role = replica;
             INSERT INTO at_default (artist, tag, count) VALUES (30, 500, 4);
             UPDATE artist_tag SET count = 5 WHERE artist = 5;
             SET session_replication_role = origin;",
        )
        .unwrap();
    let out = cut_and_apply(&env);
    assert!(out.starts_with("packet 2: 12 rows"), "{out}");
    let lines = lines_of(&env, 2);
    // The moved rows: the old key REMOVE, the new one ADD; each key once.
    for (key, op) in [
        ("(1,5)", "2"),
        ("(1,160)", "0"),
        ("(3,150)", "2"),
        ("(3000,150)", "0"),
    ] {
        assert!(
            lines.contains(&(key.to_string(), op.to_string())),
            "{key} op {op} missing from {lines:?}"
        );
    }
    let mut keys: Vec<&String> = lines.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), lines.len(), "a key logged twice: {lines:?}");
    // MERGE through the table: a row moved across partitions, one updated in place, one
    // inserted, one deleted. (PostgreSQL 15 hands a MERGE's moved rows to the INSERT and DELETE
    // transition tables, whose triggers fire only when the MERGE has those actions: README,
    // "What operators do".)
    master
        .batch_execute(
            "MERGE INTO artist_tag t USING (VALUES (2, 6, 'move'), (20, 30, 'bump'), (40, 41, 'new'), (21, 31, 'gone')) s(a, g, what)
                 ON t.artist = s.a AND t.tag = s.g
             WHEN MATCHED AND s.what = 'move' THEN UPDATE SET tag = 170
             WHEN MATCHED AND s.what = 'bump' THEN UPDATE SET count = t.count + 10
             WHEN MATCHED AND s.what = 'gone' THEN DELETE
             WHEN NOT MATCHED THEN INSERT (artist, tag, count) VALUES (s.a, s.g, 1)",
        )
        .unwrap();
    let out = cut_and_apply(&env);
    assert!(out.starts_with("packet 3: 5 rows"), "{out}");
    // TRUNCATE of one leaf, and of the mid-level partition.
    master.batch_execute("TRUNCATE at_a").unwrap();
    let out = cut_and_apply(&env);
    assert!(out.starts_with("packet 4: 3 rows"), "{out}");
    master.batch_execute("TRUNCATE at_b").unwrap();
    cut_and_apply(&env);
}

#[test]
fn partitions_attached_detached_and_created_between_cuts_are_published() {
    let (env, mut master) = setup("part_attach");
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) VALUES (1, 5, 1), (2, 6, 1), (3, 150, 1)",
        )
        .unwrap();
    cut_and_apply(&env);
    // A table with rows attached, one partition detached with its rows.
    master
        .batch_execute(
            "CREATE TABLE at_c (LIKE artist_tag INCLUDING DEFAULTS);
             INSERT INTO at_c (artist, tag, count) VALUES (7, 250, 1), (8, 260, 1);
             ALTER TABLE artist_tag ATTACH PARTITION at_c FOR VALUES FROM (200) TO (300);
             ALTER TABLE artist_tag DETACH PARTITION at_a;",
        )
        .unwrap();
    // The install's event trigger gave the attached table its capture.
    let out = cut_and_apply(&env);
    assert!(out.starts_with("packet 2: 4 rows"), "{out}");
    // The detached table's own writes are not the table's any more.
    master
        .batch_execute("INSERT INTO at_a (artist, tag, count) VALUES (9, 9, 9)")
        .unwrap();
    // The event trigger runs as its owner: a role that cannot see the replgen schema still
    // creates its own tables.
    master
        .batch_execute(
            "CREATE ROLE part_attach_user; GRANT CREATE ON SCHEMA public TO part_attach_user;
             SET ROLE part_attach_user; CREATE TABLE someone_elses (id integer); RESET ROLE;",
        )
        .unwrap();
    // A partition created after install gets its capture with it, a whole tree too.
    master
        .batch_execute(
            "CREATE TABLE at_d PARTITION OF artist_tag FOR VALUES FROM (300) TO (400);
             CREATE TABLE at_e PARTITION OF artist_tag FOR VALUES FROM (400) TO (500) PARTITION BY LIST (artist);
             CREATE TABLE at_e1 PARTITION OF at_e DEFAULT;
             INSERT INTO artist_tag (artist, tag, count) VALUES (10, 310, 1), (11, 320, 1), (12, 410, 1);
             INSERT INTO at_d (artist, tag, count) VALUES (13, 330, 1);
             DELETE FROM at_d WHERE artist = 11;
             INSERT INTO at_e1 (artist, tag, count) VALUES (14, 420, 1);",
        )
        .unwrap();
    cut_and_apply(&env);
    master
        .batch_execute("UPDATE at_d SET count = 2; DELETE FROM at_d WHERE artist = 10")
        .unwrap();
    cut_and_apply(&env);
    // A whole subtree detached, and another attached with rows in its leaves.
    master
        .batch_execute(
            "ALTER TABLE artist_tag DETACH PARTITION at_b;
             CREATE TABLE at_g (LIKE artist_tag INCLUDING DEFAULTS) PARTITION BY RANGE (artist);
             CREATE TABLE at_g1 PARTITION OF at_g FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
             INSERT INTO at_g (artist, tag, count) VALUES (18, 610, 1), (19, 620, 1);
             ALTER TABLE artist_tag ATTACH PARTITION at_g FOR VALUES FROM (600) TO (700);",
        )
        .unwrap();
    let out = cut_and_apply(&env);
    assert!(out.contains(" 3 rows"), "{out}");
    // Without the event trigger (install by a role that is not a superuser), a partition
    // created since is refused, naming it, until install gives it capture; its rows, written
    // into it uncaptured meanwhile, are then published whole.
    master
        .batch_execute(
            "DROP EVENT TRIGGER replgen_partition_added;
             CREATE TABLE at_f PARTITION OF artist_tag FOR VALUES FROM (500) TO (600);
             INSERT INTO artist_tag (artist, tag, count) VALUES (15, 510, 1), (16, 520, 1);
             INSERT INTO at_f (artist, tag, count) VALUES (17, 530, 1);
             DELETE FROM at_f WHERE artist = 16;",
        )
        .unwrap();
    let before = env.replica_digest();
    let err = dump_refused(&env);
    assert!(
        err.contains("partition at_f of public.artist_tag: trigger replgen_insert is missing")
            && err.contains("install"),
        "{err}"
    );
    assert_eq!(env.replica_digest(), before);
    env.mirror_ok(&["install", "--db", &env.master]);
    cut_and_apply(&env);
    master
        .batch_execute("UPDATE at_f SET count = 2; DELETE FROM at_f WHERE artist = 15")
        .unwrap();
    cut_and_apply(&env);
}

#[test]
fn a_disabled_or_dropped_trigger_or_a_dropped_partition_refuses_the_cut_and_keeps_changes() {
    let (env, mut master) = setup("part_refuse");
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) VALUES (1, 5, 1), (2000, 150, 1);
             INSERT INTO tag (id, name) VALUES (1, 'one');",
        )
        .unwrap();
    cut_and_apply(&env);
    for (break_it, table, what) in [
        (
            "ALTER TABLE at_b2 DISABLE TRIGGER ALL",
            "partition at_b2 of public.artist_tag",
            "disabled",
        ),
        (
            "DROP TRIGGER replgen_insert ON tag",
            "table public.tag",
            "missing",
        ),
        (
            "ALTER TABLE tag ENABLE TRIGGER replgen_update",
            "table public.tag",
            "not enabled for replica sessions",
        ),
    ] {
        master.batch_execute(break_it).unwrap();
        master
            .batch_execute(
                "UPDATE artist_tag SET count = count + 1; UPDATE tag SET ref_count = ref_count + 1",
            )
            .unwrap();
        let before = env.replica_digest();
        let pending = env.pending_changes();
        let err = dump_refused(&env);
        assert!(
            err.contains(table) && err.contains(what) && err.contains("--resync"),
            "{break_it}: {err}"
        );
        assert_eq!(env.replica_digest(), before, "{break_it}");
        assert_eq!(env.pending_changes(), pending, "{break_it}");
        env.mirror_ok(&["install", "--db", &env.master]);
        cut_and_apply(&env);
    }
    // A partition dropped with its rows: refused until install forgets it (its rows stay on
    // the replica: the message points to a table reload).
    master.batch_execute("DROP TABLE at_b2").unwrap();
    let err = dump_refused(&env);
    assert!(
        err.contains("partition public.at_b2 of public.artist_tag was dropped with its rows")
            || err.contains("partition at_b2 of public.artist_tag was dropped with its rows"),
        "{err}"
    );
    env.mirror_ok(&["install", "--db", &env.master]);
    master
        .batch_execute("INSERT INTO artist_tag (artist, tag, count) VALUES (3, 6, 1)")
        .unwrap();
    let out = env.dump();
    assert!(out.starts_with("packet 5: 1 rows"), "{out}");
}

/// A partition detached or attached since the last cut is a change no change log holds (the
/// next cut publishes its rows' REMOVEs or ADDs): `uninstall` refuses for it, naming the table,
/// as for logged changes (it went ahead, and the replicas kept the detached rows for good; found
/// by a hostile review).
#[test]
fn uninstall_refuses_while_a_partition_change_is_unpublished() {
    let (env, mut master) = setup("part_uninstall");
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) \
             SELECT g, g % 300, 1 FROM generate_series(1, 2000) g",
        )
        .unwrap();
    cut_and_apply(&env);
    for change in [
        "ALTER TABLE artist_tag DETACH PARTITION at_a",
        "CREATE TABLE at_c (LIKE artist_tag); \
         INSERT INTO at_c (artist, tag, count) SELECT g, 1000 + g % 50, 2 FROM generate_series(1, 100) g; \
         ALTER TABLE artist_tag DETACH PARTITION at_default; \
         ALTER TABLE artist_tag ATTACH PARTITION at_c FOR VALUES FROM (1000) TO (1100)",
    ] {
        master.batch_execute(change).unwrap();
        assert_eq!(env.pending_changes(), 0, "no change log holds it");
        let err = env.mirror_fails(&["uninstall", "--db", &env.master], 1);
        assert!(
            err.contains("changes no packet has published yet, of public.artist_tag"),
            "{err}"
        );
        // Nothing was changed: the next cut publishes it.
        cut_and_apply(&env);
    }
    env.mirror_ok(&["uninstall", "--db", &env.master]);
}

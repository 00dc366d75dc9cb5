//! A long run of ADD lines goes straight into its table with COPY (apply.rs `Staged::direct`)
//! only where that does exactly what the merge's DELETE + INSERT would: against every replica
//! table shape an operator may have (other unique indexes, deferrable or partial ones,
//! partitions, inheritance, triggers, rules, foreign tables, views, collations), the replica
//! ends identical, and a packet the COPY refuses runs again through the stage.

mod common;

use common::Env;

fn apply_logged(env: &Env) -> String {
    env.apply_logged(&[])
}

fn insert_artists(from: u32, to: u32) -> String {
    format!(
        "INSERT INTO artist (id, gid, name, sort_name) \
         SELECT g, gen_random_uuid(), repeat('a long name ', 10) || g, 'Artist' FROM generate_series({from}, {to}) g"
    )
}

/// An empty first packet applied: the replica has a position, so rows planted in it afterwards
/// are rows of a replica in service (a replica without one is not applied over rows).
fn start_following(env: &Env) {
    env.dump_with(&["--empty-packets"]);
    env.apply();
}

fn straight(log: &str, table: &str) -> bool {
    log.contains(&format!("rows copied straight into {table}"))
}

fn fell_back(log: &str) -> bool {
    log.contains("again through the stage")
}

fn count(env: &Env, sql: &str) -> i64 {
    env.connect_replica().query_one(sql, &[]).unwrap().get(0)
}

/// A database of its own on the cluster holding `remote_ddl`, and on the replica a postgres_fdw
/// server `loopback` reaching it, then `replica_ddl` run on the replica.
fn with_loopback_server(env: &Env, name: &str, remote_ddl: &str, replica_ddl: &str) {
    let field = |url: &str, k: &str| {
        url.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let remote_url = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name(name));
    postgres::Client::connect(&remote_url, postgres::NoTls)
        .unwrap()
        .batch_execute(remote_ddl)
        .unwrap();
    env.connect_replica()
        .batch_execute(&format!(
            "CREATE EXTENSION postgres_fdw; \
             CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{}', port '{}', dbname '{}'); \
             CREATE USER MAPPING FOR CURRENT_USER SERVER loopback OPTIONS (user '{}'); {replica_ddl}",
            field(&env.replica, "host"),
            field(&env.replica, "port"),
            field(&remote_url, "dbname"),
            field(&env.replica, "user"),
        ))
        .unwrap();
}

/// A long run of ADD lines goes straight into the table (no stage, no merge); one that meets a
/// key the replica already holds makes apply run the packet again through the stage, whose
/// merge replaces the replica's row, as a packet's ADD always does.
#[test]
fn a_long_run_of_new_rows_goes_straight_into_its_table_unless_the_table_holds_one_of_its_keys() {
    let env = Env::new("direct_copy");
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(1, 3000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(
        log.contains("rows copied straight into public.artist"),
        "{log}"
    );
    assert!(!log.contains("again through the stage"), "{log}");
    env.assert_identical();

    // The replica holds a row of its own under a key the next packet adds.
    env.connect_replica()
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) VALUES (4500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    master.batch_execute(&insert_artists(3001, 6000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(
        log.contains("applying the packet again through the stage"),
        "{log}"
    );
    assert_eq!(env.replica_position(), Some(2));
    env.assert_identical();

    // The same in a batch of two packets (the second one holds the key).
    env.connect_replica()
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) VALUES (8500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    master.batch_execute(&insert_artists(6001, 7000)).unwrap();
    env.dump();
    master.batch_execute(&insert_artists(7001, 9000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(
        log.contains("applying the batch again through the stage"),
        "{log}"
    );
    assert!(log.contains("applied packets 3..=4"), "{log}");
    env.assert_identical();
}

/// A replica table without a unique index on the key (or with a rule, which COPY would not
/// run) takes no rows straight: nothing would stop an ADD of a key it holds from making a
/// second row of it.
#[test]
fn a_table_without_a_unique_key_or_with_a_rule_takes_every_row_through_the_stage() {
    let env = Env::new("direct_copy_refused");
    start_following(&env);
    let mut master = env.connect_master();
    let mut replica = env.connect_replica();
    replica
        .batch_execute(
            "ALTER TABLE artist DROP CONSTRAINT artist_pkey; \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    master.batch_execute(&insert_artists(1, 3000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    env.assert_identical();
    assert!(!log.contains("copied straight into public.artist"), "{log}");

    // A rule (here one that does nothing more) on the replica's table.
    replica
        .batch_execute(
            "ALTER TABLE artist ADD PRIMARY KEY (id); \
             CREATE RULE artist_also AS ON INSERT TO artist DO ALSO NOTHING",
        )
        .unwrap();
    master.batch_execute(&insert_artists(3001, 6000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    env.assert_identical();
    assert!(!log.contains("copied straight into public.artist"), "{log}");
}

/// Runs that mix new rows with changes: a long run of ADD lines with other lines of the same
/// table among them (in one packet), a key removed by one packet and added again by the next one's
/// long run, and rows added straight by one packet then changed by the next, in one batch.
#[test]
fn long_runs_of_new_rows_mixed_with_changes_apply_as_the_master_has_them() {
    let env = Env::new("direct_copy_mixed");
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(9000, 9010)).unwrap();
    env.dump();
    env.apply();
    let steps = [
        // ADD lines for 1..3000, an UPDATE and a REMOVE of the same table among them.
        format!(
            "{}; UPDATE artist SET name = 'changed' WHERE id = 9000; DELETE FROM artist WHERE id = 9001",
            insert_artists(1, 3000)
        ),
        // Removes a key the next packet's long run adds again.
        "DELETE FROM artist WHERE id = 9002".to_string(),
        format!("{}; INSERT INTO artist (id, gid, name, sort_name) VALUES (9002, gen_random_uuid(), 'back', 'back')", insert_artists(3001, 6000)),
        // Changes rows the packet before added.
        "UPDATE artist SET name = 'later' WHERE id IN (3001, 4000, 5999); DELETE FROM artist WHERE id = 3002"
            .to_string(),
    ];
    for step in &steps[..1] {
        master.batch_execute(step).unwrap();
        env.dump();
    }
    // Whether the run goes straight in depends on where the dump's plan puts the other lines.
    env.apply();
    env.assert_identical();
    for step in &steps[1..] {
        master.batch_execute(step).unwrap();
        env.dump();
    }
    let log = apply_logged(&env);
    assert!(log.contains("applied packets 3..=5"), "{log}");
    env.assert_identical();
}

/// A replica table with an inheritance child (an archive table, say) that holds a row under a
/// key the next packet ADDs. The stage's merge DELETE (no ONLY) removes the child's row; the
/// parent's unique index does not see it.
#[test]
fn an_inheritance_child_holding_an_added_key_sends_every_row_through_the_stage() {
    let env = Env::new("direct_01");
    start_following(&env);
    let mut master = env.connect_master();
    let replica = || env.connect_replica();
    replica()
        .batch_execute(
            "CREATE TABLE artist_archive () INHERITS (artist); \
             INSERT INTO artist_archive (id, gid, name, sort_name) VALUES (50, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    // Control: a short packet goes through the stage, which replaces the child's row.
    master.batch_execute(&insert_artists(40, 60)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(!straight(&log, "public.artist"), "{log}");
    env.assert_identical();
    // A long run: straight in, nothing would stop a second row of key 1500.
    replica()
        .batch_execute("INSERT INTO artist_archive (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'mine', 'mine')")
        .unwrap();
    master.batch_execute(&insert_artists(1000, 4000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    env.assert_identical();
    assert!(!straight(&log, "public.artist"), "{log}");
}

/// Partitioned replica table (hash on id) with a PK: straight COPY through partition
/// routing; a planted row in one partition makes it fall back.
#[test]
fn a_partitioned_replica_table_takes_rows_straight_when_its_own_index_covers_the_key() {
    let env = Env::new("direct_02");
    let mut master = env.connect_master();
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist RENAME TO artist_orig; \
             CREATE TABLE artist (LIKE artist_orig INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY HASH (id); \
             CREATE TABLE artist_p0 PARTITION OF artist FOR VALUES WITH (MODULUS 3, REMAINDER 0); \
             CREATE TABLE artist_p1 PARTITION OF artist FOR VALUES WITH (MODULUS 3, REMAINDER 1); \
             CREATE TABLE artist_p2 PARTITION OF artist FOR VALUES WITH (MODULUS 3, REMAINDER 2); \
             ALTER TABLE artist ADD PRIMARY KEY (id); \
             DROP TABLE artist_orig;",
        )
        .unwrap();
    master.batch_execute(&insert_artists(1, 3000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(straight(&log, "public.artist"), "{log}");
    env.assert_identical();
    env.connect_replica()
        .batch_execute("INSERT INTO artist (id, gid, name, sort_name) VALUES (4500, gen_random_uuid(), 'mine', 'mine')")
        .unwrap();
    master.batch_execute(&insert_artists(3001, 6000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(fell_back(&log), "{log}");
    env.assert_identical();
    // Unique index only on the partitions (none on the parent): every row through the stage.
    env.connect_replica()
        .batch_execute(
            "DO $$ DECLARE n name; BEGIN SELECT conname INTO n FROM pg_constraint WHERE conrelid = 'artist'::regclass AND contype = 'p'; \
               EXECUTE format('ALTER TABLE artist DROP CONSTRAINT %I', n); END $$; \
             CREATE UNIQUE INDEX ON artist_p0 (id); CREATE UNIQUE INDEX ON artist_p1 (id); CREATE UNIQUE INDEX ON artist_p2 (id); \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (7500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    master.batch_execute(&insert_artists(6001, 9000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(!straight(&log, "public.artist"), "{log}");
    env.assert_identical();
}

fn swap_workload(env: &Env) {
    let mut master = env.connect_master();
    master
        .batch_execute(
            "INSERT INTO artist (id, gid, name, sort_name) VALUES \
             (900001, '00000000-0000-4000-a000-000000000001', 'one', 'one'), \
             (900002, '00000000-0000-4000-a000-000000000002', 'two', 'two'), \
             (900003, '00000000-0000-4000-a000-000000000003', 'three', 'three')",
        )
        .unwrap();
    env.dump();
    env.apply();
    // One packet: row 1 deleted, row 2's gid changed, and new rows taking both freed gids.
    master
        .batch_execute(&format!(
            "DELETE FROM artist WHERE id = 900001; \
             UPDATE artist SET gid = '00000000-0000-4000-a000-000000000099' WHERE id = 900002; \
             UPDATE artist SET gid = '00000000-0000-4000-a000-000000000002' WHERE id = 900003; \
             {}; \
             UPDATE artist SET gid = '00000000-0000-4000-a000-000000000001' WHERE id = 2990; \
             UPDATE artist SET gid = '00000000-0000-4000-a000-000000000003' WHERE id = 2999",
            insert_artists(10, 3000)
        ))
        .unwrap();
    env.dump();
}

/// Another unique index (gid): the packet swaps gids among new and existing rows.
#[test]
fn new_rows_taking_unique_values_existing_rows_give_up_apply_as_the_master_has_them() {
    let env = Env::new("direct_03");
    swap_workload(&env);
    apply_logged(&env);
    env.assert_identical();
}

/// The same with the replica's gid unique DEFERRABLE INITIALLY DEFERRED, and a deferrable PK.
#[test]
fn deferrable_unique_constraints_apply_as_the_master_has_them() {
    let env = Env::new("direct_04");
    env.connect_replica()
        .batch_execute(
            "DROP INDEX artist_idx_gid; \
             ALTER TABLE artist ADD CONSTRAINT artist_gid_u UNIQUE (gid) DEFERRABLE INITIALLY DEFERRED",
        )
        .unwrap();
    swap_workload(&env);
    apply_logged(&env);
    env.assert_identical();
    // A deferrable PK (immediate by default): not an immediate index, so the stage, which
    // replaces a planted row.
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist DROP CONSTRAINT artist_pkey; \
             ALTER TABLE artist ADD PRIMARY KEY (id) DEFERRABLE INITIALLY IMMEDIATE; \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (4500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    env.connect_master()
        .batch_execute(&insert_artists(3001, 6000))
        .unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(!straight(&log, "public.artist"), "{log}");
    env.assert_identical();
}

/// The key's unique index with INCLUDE columns instead of the PK; a planted row.
#[test]
fn a_unique_index_on_the_key_with_included_columns_serves_as_the_primary_key() {
    let env = Env::new("direct_05");
    start_following(&env);
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist DROP CONSTRAINT artist_pkey; \
             CREATE UNIQUE INDEX artist_id_incl ON artist (id) INCLUDE (name, sort_name); \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    env.connect_master()
        .batch_execute(&insert_artists(1, 3000))
        .unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(fell_back(&log), "{log}");
    env.assert_identical();
    env.connect_master()
        .batch_execute(&insert_artists(3001, 6000))
        .unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(straight(&log, "public.artist"), "{log}");
    env.assert_identical();
}

/// Partial, expression and other-collation unique indexes on the key (no PK): the stage,
/// which replaces planted rows. Text key table with a COLLATE "C" unique index.
#[test]
fn partial_expression_and_other_collation_indexes_do_not_count() {
    let env = Env::new("direct_06");
    start_following(&env);
    let mut master = env.connect_master();
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist DROP CONSTRAINT artist_pkey; \
             CREATE UNIQUE INDEX artist_partial ON artist (id) WHERE id > 0; \
             CREATE UNIQUE INDEX artist_expr ON artist ((id + 0)); \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'mine', 'mine'); \
             ALTER TABLE replication_control_note DROP CONSTRAINT replication_control_note_pkey; \
             CREATE UNIQUE INDEX note_c ON replication_control_note (code COLLATE \"C\"); \
             INSERT INTO replication_control_note (code) VALUES ('code 0000500')",
        )
        .unwrap();
    master
        .batch_execute(&format!(
            "{}; INSERT INTO replication_control_note (code, body) \
             SELECT 'code ' || lpad(g::text, 7, '0'), '{{\"a\": \"a long enough body to pass the streaming threshold\"}}' \
             FROM generate_series(1, 3000) g",
            insert_artists(1, 3000)
        ))
        .unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(!straight(&log, "public.artist"), "{log}");
    assert!(!straight(&log, "public.replication_control_note"), "{log}");
    env.assert_identical();
}

/// An ENABLE ALWAYS BEFORE INSERT trigger on the replica that skips a row whose key the
/// table holds (a dedupe guard), and a planted row: the stage deletes the planted row first,
/// so the trigger lets the master's row in; the straight COPY meets the planted row.
#[test]
fn a_before_insert_trigger_of_the_replica_sees_the_rows_the_merge_deletes() {
    let env = Env::new("direct_07");
    start_following(&env);
    env.connect_replica()
        .batch_execute(
            "CREATE FUNCTION skip_held() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT 1 FROM artist WHERE id = NEW.id) THEN RETURN NULL; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER skip_held BEFORE INSERT ON artist FOR EACH ROW EXECUTE FUNCTION skip_held(); \
             ALTER TABLE artist ENABLE ALWAYS TRIGGER skip_held; \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (50, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(40, 60)).unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
    env.connect_replica()
        .batch_execute("INSERT INTO artist (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'mine', 'mine')")
        .unwrap();
    master.batch_execute(&insert_artists(1000, 4000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    env.assert_identical();
    assert!(!straight(&log, "public.artist"), "{log}");
    // An AFTER trigger sees the same rows either way: the rows go straight in.
    env.connect_replica()
        .batch_execute(
            "DROP TRIGGER skip_held ON artist; \
             CREATE FUNCTION count_added() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN UPDATE added SET n = n + 1; RETURN NULL; END $$; \
             CREATE TABLE added (n integer); INSERT INTO added VALUES (0); \
             CREATE TRIGGER count_added AFTER INSERT ON artist FOR EACH ROW EXECUTE FUNCTION count_added(); \
             ALTER TABLE artist ENABLE ALWAYS TRIGGER count_added",
        )
        .unwrap();
    master.batch_execute(&insert_artists(5000, 7000)).unwrap();
    env.dump();
    let log = apply_logged(&env);
    env.assert_identical();
    assert!(straight(&log, "public.artist"), "{log}");
    assert_eq!(count(&env, "SELECT n::bigint FROM added"), 2001);
}

/// Catch-up batch: straight rows, a key removed then added back by a later long run, a key
/// deleted and re-inserted in one transaction (an UPDATE line), and a big (>=10,000) stage of
/// updates of straight rows (the new-keys filter), staged in the order `log_says`.
fn straight_rows_removed_added_back_and_updated(name: &str, envs: &[(&str, &str)], log_says: &str) {
    let env = Env::new(name);
    let mut master = env.connect_master();
    master
        .batch_execute(&insert_artists(100000, 100010))
        .unwrap();
    env.dump();
    env.apply();
    let steps = [
        insert_artists(1, 20000),
        "DELETE FROM artist WHERE id IN (1500, 100001)".to_string(),
        format!(
            "{}; INSERT INTO artist (id, gid, name, sort_name) VALUES (1500, gen_random_uuid(), 'back', 'back'), \
             (100001, gen_random_uuid(), 'back', 'back')",
            insert_artists(20001, 23000)
        ),
        "DELETE FROM artist WHERE id = 2000; INSERT INTO artist (id, gid, name, sort_name) VALUES (2000, gen_random_uuid(), 'again', 'again'); \
         UPDATE artist SET name = 'upd ' || id WHERE id <= 12000"
            .to_string(),
        insert_artists(23001, 26000),
    ];
    for step in &steps {
        master.batch_execute(step).unwrap();
        env.dump();
    }
    let log = env.apply_logged(envs);
    assert!(log.contains("applied packets 2..=6"), "{log}");
    assert!(log.contains(log_says), "{log}");
    assert!(straight(&log, "public.artist"), "{log}");
    env.assert_identical();
}

/// Its first and last packets add rows only: staged in packet order.
#[test]
fn a_batch_of_straight_rows_removed_added_back_and_updated_applies_every_version() {
    straight_rows_removed_added_back_and_updated("direct_08", &[], "staged in packet order");
}

/// The same batch staged newest packet first: the newest straight rows are held until the
/// older lines are merged.
#[test]
fn a_batch_staged_newest_first_of_straight_rows_removed_added_back_and_updated_applies_every_version(
) {
    straight_rows_removed_added_back_and_updated(
        "direct_08n",
        &[("REPLGEN_BATCH_NEWEST_FIRST", "1")],
        "after the merge",
    );
}

/// A catch-up of packets that add rows only is staged in packet order, so the new rows stream
/// straight into their table while the packets are read (staged newest first, they waited in a
/// file until every packet was read, the server idle meanwhile), keys in the master's order.
#[test]
fn a_batch_of_new_rows_streams_straight_into_its_table_in_packet_order() {
    let env = Env::new("direct_10");
    start_following(&env);
    let mut master = env.connect_master();
    for k in 0..6 {
        master
            .batch_execute(&insert_artists(1 + k * 2000, (k + 1) * 2000))
            .unwrap();
        env.dump();
    }
    let log = apply_logged(&env);
    assert!(log.contains("applied packets 2..=7"), "{log}");
    assert!(log.contains("staged in packet order"), "{log}");
    assert!(straight(&log, "public.artist"), "{log}");
    assert!(!log.contains("after the merge"), "{log}");
    assert!(!fell_back(&log), "{log}");
    env.assert_identical();
}

/// Multi-column keys: artist_tag and artist_credit_name long runs; a planted row; the key
/// index in the other column order.
#[test]
fn multi_column_keys_in_either_index_order() {
    let env = Env::new("direct_09");
    start_following(&env);
    let mut master = env.connect_master();
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist_credit_name DROP CONSTRAINT artist_credit_name_pkey; \
             CREATE UNIQUE INDEX acn_rev ON artist_credit_name (position, artist_credit); \
             INSERT INTO artist_tag (artist, tag, count) VALUES (7, 3, 999)",
        )
        .unwrap();
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) SELECT a, t, a * t FROM generate_series(1, 100) a, generate_series(1, 40) t; \
             INSERT INTO artist_credit_name (artist_credit, position, artist, name) \
             SELECT c, p, c, repeat('credited name ', 5) || c FROM generate_series(1, 1000) c, generate_series(0, 2) p",
        )
        .unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
    master
        .batch_execute(
            "INSERT INTO artist_tag (artist, tag, count) SELECT a, t, 1 FROM generate_series(101, 200) a, generate_series(1, 40) t; \
             UPDATE artist_credit_name SET name = 'x' WHERE position = 1",
        )
        .unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
}

/// Crashes at apply-staged (after the straight COPY) and before the commit, for one packet and
/// for a batch: the replica is at a packet boundary and ends identical.
#[test]
fn a_crash_after_a_straight_copy_leaves_the_replica_at_a_packet_boundary() {
    let env = Env::new("direct_10");
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(1, 3000)).unwrap();
    env.dump();
    let apply = ["apply", "--db", &env.replica, "--from", env.feed()];
    common::crash_at("apply-staged", &apply);
    assert_eq!(env.replica_position(), None);
    assert_eq!(count(&env, "SELECT count(*) FROM artist"), 0);
    common::crash_at("apply-before-commit", &apply);
    assert_eq!(count(&env, "SELECT count(*) FROM artist"), 0);
    env.apply();
    env.assert_identical();
    // A batch.
    master.batch_execute(&insert_artists(3001, 6000)).unwrap();
    env.dump();
    master.batch_execute(&insert_artists(6001, 9000)).unwrap();
    env.dump();
    common::crash_at("apply-staged", &apply);
    assert_eq!(env.replica_position(), Some(1));
    assert_eq!(count(&env, "SELECT count(*) FROM artist"), 3000);
    env.apply();
    env.assert_identical();
}

/// Hostile values in a straight run: tabs, newlines, backslashes, "\." , CR, unicode,
/// quotes, in artist (varchar), editor_note (text, char(2), int[]), and the text-key table.
#[test]
fn hostile_values_go_straight_in_unchanged() {
    let env = Env::new("direct_11");
    let mut master = env.connect_master();
    master
        .batch_execute(
            r#"INSERT INTO artist (id, gid, name, sort_name, comment, coordinates, rating, popularity)
               SELECT g, gen_random_uuid(),
                      E'tab\there\nnewline\\backslash\\.dot\r' || chr(233) || chr(128512) || repeat('x', g % 50) || g,
                      E'\\.', E'\\N', point(g, -g), 'NaN'::real, '-0'::float8
               FROM generate_series(1, 3000) g;
               INSERT INTO replication_control_note (code, body, attributes, checksum, client_addr)
               SELECT E'\\.' || g || E'\t\n\\N', '{"k": "v\\n"}', '{"a": [1, "\\t"]}', decode('00ff5c2e0a', 'hex') || g::text::bytea, '::1'
               FROM generate_series(1, 3000) g;
               INSERT INTO musicbrainz.editor_note (id, editor, note, country, mentions)
               SELECT g, g, E'\\.\n' || repeat('z', 40), 'A ', ARRAY[g, NULL, -g] FROM generate_series(1, 3000) g;"#,
        )
        .unwrap();
    env.dump();
    let log = apply_logged(&env);
    assert!(straight(&log, "public.artist"), "{log}");
    assert!(straight(&log, "public.replication_control_note"), "{log}");
    env.assert_identical();
}

/// A reload (dump --resync) of a table with a planted row and an inheritance child: TRUNCATE
/// then straight COPY.
#[test]
fn a_reload_goes_straight_into_the_emptied_table() {
    let env = Env::new("direct_12");
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(1, 3000)).unwrap();
    env.dump();
    env.apply();
    env.connect_replica()
        .batch_execute(
            "DELETE FROM artist WHERE id = 10; UPDATE artist SET name = 'drift' WHERE id = 20; \
             INSERT INTO artist (id, gid, name, sort_name) VALUES (99999, gen_random_uuid(), 'mine', 'mine')",
        )
        .unwrap();
    env.mirror_ok(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--resync",
        "artist",
    ]);
    let log = apply_logged(&env);
    assert!(straight(&log, "public.artist"), "{log}");
    env.assert_identical();
}

/// A case-insensitive (nondeterministic ICU) collation on the replica's text key, and a
/// planted row differing only in case: the straight COPY's unique index and the merge's DELETE
/// agree.
#[test]
fn a_case_insensitive_key_collation_agrees_with_the_merge() {
    let env = Env::new("direct_13");
    start_following(&env);
    let mut replica = env.connect_replica();
    replica
        .batch_execute(
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        )
        .unwrap();
    replica
        .batch_execute(
            "ALTER TABLE replication_control_note ALTER COLUMN code TYPE text COLLATE ci; \
             INSERT INTO replication_control_note (code) VALUES ('CODE 0000500')",
        )
        .unwrap();
    env.connect_master()
        .batch_execute(
            "INSERT INTO replication_control_note (code, body) \
             SELECT 'code ' || lpad(g::text, 7, '0'), '{\"a\": \"a long enough body to pass the streaming threshold\"}' \
             FROM generate_series(1, 3000) g",
        )
        .unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
}

/// A key respelled on the master ('code a' removed, 'CODE A' added later in a long run of new
/// rows) is one key to the replica's case-insensitive collation. Staged newest packet first
/// (`envs`), the newest packet's rows go straight in only after the merge, which would otherwise
/// delete the new row for the older packet's REMOVE; `log_says` how the batch went.
fn key_respelled_across_a_batch(name: &str, envs: &[(&str, &str)], log_says: &str) {
    let env = Env::new(name);
    env.connect_replica()
        .batch_execute(
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false); \
             ALTER TABLE replication_control_note ALTER COLUMN code TYPE text COLLATE ci",
        )
        .unwrap();
    let mut master = env.connect_master();
    master
        .batch_execute("INSERT INTO replication_control_note (code) VALUES ('base')")
        .unwrap();
    env.dump();
    env.apply();
    let body = "'{\"a\": \"a long enough body to pass the streaming threshold\"}'";
    for step in [
        format!("INSERT INTO replication_control_note (code, body) VALUES ('code a', {body})"),
        "DELETE FROM replication_control_note WHERE code = 'code a'".to_string(),
        format!(
            "INSERT INTO replication_control_note (code, body) \
             SELECT 'CODE ' || CASE WHEN g = 0 THEN 'A' ELSE lpad(g::text, 7, '0') END, {body} \
             FROM generate_series(0, 3000) g"
        ),
    ] {
        master.batch_execute(&step).unwrap();
        env.dump();
    }
    let log = env.apply_logged(envs);
    assert!(log.contains("applied packets 2..=4"), "{log}");
    assert!(log.contains(log_says), "{log}");
    env.assert_identical();
}

#[test]
fn a_key_respelled_across_a_batch_under_a_case_insensitive_collation() {
    key_respelled_across_a_batch(
        "direct_21",
        &[("REPLGEN_BATCH_NEWEST_FIRST", "1")],
        "3001 rows copied straight into public.replication_control_note, after the merge",
    );
}

/// Its first and last packets add rows only: staged in packet order, every line through the
/// stage once the first is staged.
#[test]
fn a_key_respelled_across_a_batch_staged_in_packet_order() {
    key_respelled_across_a_batch("direct_21p", &[], "staged in packet order");
}

/// Packet 1 alone first, then a batch of three, staged in the order `envs` make: a long run of
/// new rows goes straight in and meets a key planted in the replica, so the whole batch runs
/// again through the stage; a key planted in another packet's range is replaced by the merge
/// either way.
fn batch_that_falls_back(name: &str, envs: &[(&str, &str)]) {
    let env = Env::new(name);
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(1, 10)).unwrap();
    env.dump();
    env.apply();
    master.batch_execute(&insert_artists(11, 3000)).unwrap();
    env.dump();
    master
        .batch_execute(&format!(
            "{}; UPDATE artist SET name = 'u' WHERE id < 20; DELETE FROM artist WHERE id = 2999",
            insert_artists(3001, 6000)
        ))
        .unwrap();
    env.dump();
    master.batch_execute(&insert_artists(6001, 9000)).unwrap();
    env.dump();
    env.connect_replica()
        .batch_execute("INSERT INTO artist (id, gid, name, sort_name) VALUES (2000, gen_random_uuid(), 'mine', 'mine'), (7000, gen_random_uuid(), 'mine', 'mine')")
        .unwrap();
    let log = env.apply_logged(envs);
    assert!(
        log.contains("applying the batch again through the stage"),
        "{log}"
    );
    assert!(log.contains("applied packets 2..=4"), "{log}");
    env.assert_identical();
}

#[test]
fn a_batch_that_falls_back_keeps_every_packet() {
    batch_that_falls_back("direct_14", &[]);
}

#[test]
fn a_batch_staged_newest_first_that_falls_back_keeps_every_packet() {
    batch_that_falls_back("direct_14n", &[("REPLGEN_BATCH_NEWEST_FIRST", "1")]);
}

/// The replica's key is a GENERATED ALWAYS identity column (the merge's INSERT says
/// OVERRIDING SYSTEM VALUE; the straight COPY says nothing), and a replica with the PK on a
/// different column set (id, gid).
#[test]
fn an_identity_key_and_a_wider_primary_key() {
    let env = Env::new("direct_15");
    start_following(&env);
    env.connect_replica()
        .batch_execute(
            "ALTER TABLE artist ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY; \
             ALTER TABLE artist_credit DROP CONSTRAINT artist_credit_pkey; ALTER TABLE artist_credit ADD PRIMARY KEY (id, gid); \
             INSERT INTO artist_credit (id, name, artist_count, gid) VALUES (1500, 'mine', 1, gen_random_uuid())",
        )
        .unwrap();
    env.connect_master()
        .batch_execute(&format!(
            "{}; INSERT INTO artist_credit (id, name, artist_count, gid) \
             SELECT g, repeat('credit ', 10) || g, 1, gen_random_uuid() FROM generate_series(1, 3000) g",
            insert_artists(1, 3000)
        ))
        .unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
}

/// The replica's tag is a postgres_fdw foreign table (rows kept in another database): the
/// stage's DELETE and INSERT work on it; LOCK TABLE does not.
#[test]
fn a_foreign_table_replica_takes_every_row_through_the_stage() {
    let env = Env::new("direct_16");
    with_loopback_server(
        &env,
        "direct_16_remote",
        "CREATE TABLE tag (id integer PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, \
             ref_count integer NOT NULL DEFAULT 0, aliases text[])",
        "DROP TABLE tag; \
             CREATE FOREIGN TABLE tag (id integer NOT NULL, name varchar(255) NOT NULL, ref_count integer NOT NULL, aliases text[]) \
                 SERVER loopback OPTIONS (table_name 'tag')",
    );
    let mut master = env.connect_master();
    // A short packet: through the stage, as before.
    master
        .batch_execute(
            "INSERT INTO tag (id, name) SELECT g, 'short ' || g FROM generate_series(1, 20) g",
        )
        .unwrap();
    env.dump();
    apply_logged(&env);
    env.assert_identical();
    // A long run of ADD lines.
    master
        .batch_execute(
            "INSERT INTO tag (id, name, aliases) SELECT g, repeat('a long tag name ', 6) || g, ARRAY['x', 'y'] \
             FROM generate_series(100, 3100) g",
        )
        .unwrap();
    env.dump();
    let out = env.mirror(&["apply", "--db", &env.replica, "--from", env.feed()]);
    assert!(out.status.success());
    env.assert_identical();
}

/// The replica's artist is an auto-updatable view over its own table.
#[test]
fn a_view_replica_takes_every_row_through_the_stage() {
    let env = Env::new("direct_17");
    env.connect_replica()
        .batch_execute("ALTER TABLE artist RENAME TO artist_data; CREATE VIEW artist AS SELECT * FROM artist_data")
        .unwrap();
    env.connect_master()
        .batch_execute(&insert_artists(1, 3000))
        .unwrap();
    env.dump();
    let out = env.mirror(&["apply", "--db", &env.replica, "--from", env.feed()]);
    assert!(out.status.success());
    env.assert_identical();
}

/// The replica's tag is partitioned (range on id) with one partition a postgres_fdw foreign
/// table: LOCK TABLE of the parent recurses into it.
#[test]
fn a_partitioned_replica_with_a_foreign_partition() {
    let env = Env::new("direct_18");
    with_loopback_server(
        &env,
        "direct_18_remote",
        "CREATE TABLE tag_high (id integer PRIMARY KEY, name varchar(255) NOT NULL, \
             ref_count integer NOT NULL DEFAULT 0, aliases text[])",
        "DROP TABLE tag; \
             CREATE TABLE tag (id integer NOT NULL, name varchar(255) NOT NULL, ref_count integer NOT NULL, aliases text[]) PARTITION BY RANGE (id); \
             CREATE TABLE tag_low PARTITION OF tag FOR VALUES FROM (MINVALUE) TO (1000000); \
             CREATE FOREIGN TABLE tag_high PARTITION OF tag FOR VALUES FROM (1000000) TO (MAXVALUE) \
                 SERVER loopback OPTIONS (table_name 'tag_high')",
    );
    let mut master = env.connect_master();
    master
        .batch_execute(
            "INSERT INTO tag (id, name, aliases) SELECT g, repeat('a long tag name ', 6) || g, ARRAY['x', 'y'] \
             FROM generate_series(100, 3100) g; \
             INSERT INTO tag (id, name) SELECT g, 'high ' || g FROM generate_series(1000000, 1000010) g",
        )
        .unwrap();
    env.dump();
    let out = env.mirror(&["apply", "--db", &env.replica, "--from", env.feed()]);
    assert!(out.status.success());
    env.assert_identical();
}

/// The random workload (hostile values, key changes, truncates) mixed with bulk inserts
/// long enough to stream, packet by packet and in batches.
#[test]
fn a_random_workload_mixed_with_bulk_inserts_stays_identical() {
    let env = Env::new("direct_19");
    let mut master = env.connect_master();
    let mut work = common::Workload::new(&mut master, &env.schema, 77, 0);
    let bulk = |master: &mut postgres::Client, round: u32| {
        let base = 50_000_000 + round * 10_000;
        master
            .batch_execute(&format!(
                "{}; \
                 INSERT INTO tag (id, name, aliases) SELECT g, E'bulk\\t' || g || repeat('n', 60), ARRAY[E'a\\\\b', NULL] FROM generate_series({base}, {base} + 2999) g; \
                 INSERT INTO musicbrainz.editor_note (id, editor, note) SELECT g, g, E'\\\\.' || repeat('q', 80) FROM generate_series({base}, {base} + 2999) g; \
                 INSERT INTO artist_credit_name (artist_credit, position, artist, name) SELECT g, 1, g, repeat('c', 90) FROM generate_series({base}, {base} + 2999) g",
                insert_artists(base, base + 2999)
            ))
            .unwrap();
    };
    let mut round = 0;
    let mut step = |master: &mut postgres::Client, work: &mut common::Workload| {
        round += 1;
        if round % 2 == 0 {
            work.run(master, 150, true);
            bulk(master, round);
        } else {
            bulk(master, round);
            work.run(master, 150, true);
        }
        env.dump();
    };
    step(&mut master, &mut work);
    apply_logged(&env);
    env.assert_identical();
    for _ in 0..4 {
        step(&mut master, &mut work);
    }
    apply_logged(&env);
    env.assert_identical();
    for _ in 0..3 {
        step(&mut master, &mut work);
        apply_logged(&env);
        env.assert_identical();
    }
}

/// A non-superuser applier with rights on the replicated (partitioned) table but none on its
/// partitions: INSERT and DELETE through the parent need none; LOCK TABLE recurses.
#[test]
fn a_role_without_rights_on_the_partitions_applies_through_the_parent() {
    let env = Env::new("direct_21");
    let role = replgen_testkit::Cluster::unique_name("applier");
    let db = env
        .replica
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("dbname="))
        .unwrap()
        .to_string();
    env.connect_replica()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; \
             GRANT CREATE, TEMP ON DATABASE \"{db}\" TO {role}; \
             ALTER TABLE artist RENAME TO artist_orig; \
             CREATE TABLE artist (LIKE artist_orig INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY HASH (id); \
             CREATE TABLE artist_p0 PARTITION OF artist FOR VALUES WITH (MODULUS 2, REMAINDER 0); \
             CREATE TABLE artist_p1 PARTITION OF artist FOR VALUES WITH (MODULUS 2, REMAINDER 1); \
             ALTER TABLE artist ADD PRIMARY KEY (id); \
             DROP TABLE artist_orig; \
             GRANT USAGE ON SCHEMA public, musicbrainz TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public, musicbrainz TO {role}; \
             REVOKE ALL ON artist_p0, artist_p1 FROM {role}"
        ))
        .unwrap();
    let as_role = env
        .replica
        .replace("user=postgres", &format!("user={role}"));
    let mut master = env.connect_master();
    master.batch_execute(&insert_artists(1, 20)).unwrap();
    env.dump();
    let out = env.mirror(&["apply", "--db", &as_role, "--from", env.feed()]);
    assert!(out.status.success());
    env.assert_identical();
    master.batch_execute(&insert_artists(100, 3100)).unwrap();
    env.dump();
    let out = env.mirror(&["apply", "--db", &as_role, "--from", env.feed()]);
    assert!(out.status.success());
    env.assert_identical();
}

//! Every bad input a replica can meet is refused with a message naming what and where, exit
//! code 1, and the replica exactly as it was.

mod common;

use std::path::Path;

use common::feed::{
    self, attr, packet_element, packet_file, relist, rewrite_packet, set_index, with_attr,
};
use common::{Env, Workload};
use replgen_schema::BaseType;

struct Fixture {
    env: Env,
    scratch: tempfile::TempDir,
}

/// A feed of three packets; the replica has applied packet 1.
fn fixture(name: &str) -> Fixture {
    let env = Env::new(name);
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 11, 0);
    for _ in 0..3 {
        work.run(&mut master, 150, false);
        env.dump();
    }
    // Apply only packet 1, from a copy listing only it.
    let scratch = tempfile::tempdir().unwrap();
    let first = scratch.path().join("first");
    feed::copy_dir(env.feed.path(), &first);
    let xml = feed::index(&first);
    let mut only_first = xml.clone();
    for serial in [2, 3] {
        only_first = only_first.replace(&packet_element(&xml, serial), "");
    }
    set_index(&first, &only_first);
    env.mirror_ok(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        first.to_str().unwrap(),
    ]);
    Fixture { env, scratch }
}

impl Fixture {
    /// Copies the feed, lets `tamper` change the copy, and asserts apply refuses it with a
    /// message containing every `expected` part and leaves the replica unchanged.
    fn refused(&self, case: &str, tamper: impl FnOnce(&Path), expected: &[&str]) {
        let dir = self.scratch.path().join(case);
        feed::copy_dir(self.env.feed.path(), &dir);
        tamper(&dir);
        let before = self.env.replica_digest();
        let err = self.env.mirror_fails(
            &[
                "apply",
                "--db",
                &self.env.replica,
                "--from",
                dir.to_str().unwrap(),
            ],
            1,
        );
        for part in expected {
            assert!(
                err.contains(part),
                "{case}: expected `{part}` in the error:\n{err}"
            );
        }
        assert_eq!(
            before,
            self.env.replica_digest(),
            "{case}: the replica changed"
        );
    }
}

#[test]
fn refuses_damaged_files_and_indexes() {
    let f = fixture("damaged");
    f.refused(
        "truncated",
        |dir| {
            let path = packet_file(dir, 2);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            relist(dir, 2);
        },
        &["packet 2"],
    );
    f.refused(
        "truncated_unlisted",
        |dir| {
            let path = packet_file(dir, 2);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        },
        &["bytes, but the index lists"],
    );
    f.refused(
        "flipped_byte",
        |dir| {
            let path = packet_file(dir, 2);
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
        },
        &["sha256", "corrupt or was tampered with"],
    );
    f.refused(
        "wrong_sha256",
        |dir| {
            let xml = feed::index(dir);
            let old = packet_element(&xml, 2);
            set_index(
                dir,
                &xml.replace(&old, &with_attr(&old, "sha256", &"0".repeat(64))),
            );
        },
        &["sha256"],
    );
    f.refused(
        "gap",
        |dir| {
            let xml = feed::index(dir);
            set_index(dir, &xml.replace(&packet_element(&xml, 2), ""));
        },
        &["gap", "1 is followed by 3"],
    );
    f.refused(
        "escaping_path",
        |dir| {
            let xml = feed::index(dir);
            let old = packet_element(&xml, 2);
            set_index(
                dir,
                &xml.replace(&old, &with_attr(&old, "path", "../../etc/passwd")),
            );
        },
        &["climbs out"],
    );
    f.refused(
        "absolute_path",
        |dir| {
            let xml = feed::index(dir);
            let old = packet_element(&xml, 2);
            set_index(
                dir,
                &xml.replace(&old, &with_attr(&old, "path", "/etc/passwd")),
            );
        },
        &["absolute"],
    );
    f.refused(
        "not_xml",
        |dir| std::fs::write(dir.join("index.xml"), "<replication><packet").unwrap(),
        &["index.xml"],
    );
    f.refused(
        "missing_file",
        |dir| std::fs::remove_file(packet_file(dir, 2)).unwrap(),
        &["packet", "No such file"],
    );
}

#[test]
fn refuses_packets_that_lie() {
    let f = fixture("lies");
    f.refused(
        "replay",
        |dir| {
            // Packet 1, which the replica already applied, is served again where 2 belongs.
            std::fs::copy(packet_file(dir, 1), packet_file(dir, 2)).unwrap();
            relist(dir, 2);
        },
        &["packet 2", "serial 1"],
    );
    f.refused(
        "rows",
        |dir| {
            // The index's row count, which bounds apply's batches, must be the packet's own.
            let xml = feed::index(dir);
            let old = packet_element(&xml, 2);
            let rows: u64 = attr(&old, "rows").parse().unwrap();
            set_index(
                dir,
                &xml.replace(&old, &with_attr(&old, "rows", &(rows + 2).to_string())),
            );
        },
        &["packet 2", "rows, but the index lists it with"],
    );
    f.refused(
        "schema_version",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                t.replace("# schema_version 1\n", "# schema_version 2\n")
            })
        },
        &["packet 2", "schema_version 2", "schema_version 1"],
    );
    f.refused(
        "fingerprint",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                let start = t.find("# fingerprint ").unwrap() + 14;
                let end = start + t[start..].find('\n').unwrap();
                format!("{}{}{}", &t[..start], "f".repeat(64), &t[end..])
            })
        },
        &["packet 2", "different table layout"],
    );
    f.refused(
        "unknown_table",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                feed::edit_first_line(
                    t,
                    |_| true,
                    |mut f| {
                        f[0] = "99999".into();
                        f
                    },
                )
            })
        },
        &["packet 2", "unknown table id 99999", "line 10"],
    );
    f.refused(
        "field_count",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                feed::edit_first_line(
                    t,
                    |f| f[3] != "2",
                    |mut f| {
                        f.pop();
                        f
                    },
                )
            })
        },
        &["packet 2", "value fields, expected"],
    );
    f.refused(
        "bad_op",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                feed::edit_first_line(
                    t,
                    |_| true,
                    |mut f| {
                        f[3] = "7".into();
                        f
                    },
                )
            })
        },
        &["packet 2", "not an operation"],
    );
    f.refused(
        "trailer_count",
        |dir| rewrite_packet(dir, 2, |t| t.replace("\n# end ", "\n# end 1")),
        &["packet 2", "trailer counts"],
    );
    f.refused(
        "no_trailer",
        |dir| {
            rewrite_packet(dir, 2, |t| {
                let end = t.rfind("# end").unwrap();
                t[..end].to_string()
            })
        },
        &["packet 2", "truncated"],
    );
    // A bad value, and a NULL in a non-null column: an integer column of a table that packet 2
    // adds or updates rows of.
    let schema = common::schema();
    let lines = common::packet_lines(f.env.feed.path());
    let (table, column) = schema
        .tables
        .iter()
        .filter(|t| {
            lines.iter().any(|(s, l)| {
                *s == 2
                    && l.starts_with(&format!("{}\t", t.id))
                    && l.split('\t').nth(3) != Some("2")
            })
        })
        .find_map(|t| {
            t.columns
                .iter()
                .position(|c| {
                    !c.sql_type.array
                        && !c.nullable
                        && matches!(c.sql_type.base, BaseType::Integer | BaseType::Bigint)
                })
                .map(|i| (t.clone(), i))
        })
        .expect("packet 2 adds or updates a row with a non-null integer column");
    let id = table.id.to_string();
    let name = table.columns[column].name.clone();
    for (case, value, expected) in [
        ("bad_value", "twelve", "twelve"),
        ("null_value", "\\N", "NULL"),
    ] {
        f.refused(
            case,
            |dir| {
                rewrite_packet(dir, 2, |t| {
                    feed::edit_first_line(
                        t,
                        |f| f[0] == id && f[3] != "2",
                        |mut f| {
                            f[4 + column] = value.into();
                            f
                        },
                    )
                })
            },
            &["packet 2", &name, expected],
        );
    }
}

#[test]
fn refuses_a_decompression_bomb() {
    use std::io::Write;
    let f = fixture("bomb");
    f.refused(
        "bomb",
        |dir| {
            let path = packet_file(dir, 2);
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::best(),
            );
            let header = "# replgen packet 1\n# serial 2\n# previous 1\n";
            gz.write_all(header.as_bytes()).unwrap();
            let zeros = vec![b'0'; 1 << 20];
            for _ in 0..300 {
                gz.write_all(&zeros).unwrap();
            }
            gz.finish().unwrap();
            relist(dir, 2);
            assert!(std::fs::metadata(&path).unwrap().len() < 2 << 20);
        },
        &["packet 2", "longer than the limit"],
    );
}

#[test]
fn refuses_a_feed_rolled_back_behind_the_replica_and_replicas_too_far_behind() {
    let f = fixture("rollback");
    f.env.apply();
    // The replica is at 3; a feed that lists only packet 1 was rolled back.
    let dir = f.scratch.path().join("rolled_back");
    feed::copy_dir(f.env.feed.path(), &dir);
    let xml = feed::index(&dir);
    set_index(
        &dir,
        &xml.replace(&packet_element(&xml, 2), "")
            .replace(&packet_element(&xml, 3), ""),
    );
    let err = f.env.mirror_fails(
        &[
            "apply",
            "--db",
            &f.env.replica,
            "--from",
            dir.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("rolled back"), "{err}");
    // A new replica when the feed no longer lists packet 1.
    let fresh = f
        .env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("rollback_fresh"));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    let xml = feed::index(f.env.feed.path());
    let pruned = f.scratch.path().join("pruned");
    feed::copy_dir(f.env.feed.path(), &pruned);
    set_index(&pruned, &xml.replace(&packet_element(&xml, 1), ""));
    let err = f.env.mirror_fails(
        &["apply", "--db", &fresh, "--from", pruned.to_str().unwrap()],
        1,
    );
    assert!(
        err.contains("oldest packet the feed still lists is 2") && err.contains("import"),
        "{err}"
    );
    let _ = attr;
}

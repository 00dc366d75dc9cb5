//! The capture itself, checked by every cut after it locked the tables: each replicated table and
//! each of its partitions (at every level) must carry its capture triggers, present, calling
//! replgen's functions and `ENABLE ALWAYS`, or writes may have gone past the feed. The partitions
//! are compared with those the last cut recorded: one attached since is published as ADD of its
//! rows, one detached as REMOVE of its keys, both by logging its keys into the table's change log
//! inside the cut. One catalog query when nothing changed (docs/design.md, "Partitions").

use std::collections::BTreeSet;

use postgres::{Row, Transaction};

use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::sql;

/// Log kinds (the low two bits of `ord`): the row did not exist before / did.
const KIND_ADDED: u8 = 3;
const KIND_REMOVED: u8 = 0;

/// One relation of a replicated table's partition tree, as the catalog query returns it.
struct Node {
    table_id: u32,
    relid: i64,
    partitioned: bool,
    is_root: bool,
    attached: bool,
    present: bool,
    name: String,
    relkind: String,
    recorded: bool,
    table_recorded: bool,
    triggers: Vec<(String, String, String)>,
}

impl Node {
    fn from_row(row: &Row) -> Node {
        let names: Vec<String> = row.get("trigger_names");
        let functions: Vec<String> = row.get("trigger_functions");
        let enabled: Vec<String> = row.get("trigger_enabled");
        Node {
            table_id: row.get::<_, i32>("table_id") as u32,
            relid: row.get("relid"),
            partitioned: row.get("partitioned"),
            is_root: row.get("is_root"),
            attached: row.get("attached"),
            present: row.get("present"),
            name: row.get("name"),
            relkind: row.get("relkind"),
            recorded: row.get("recorded"),
            table_recorded: row.get("table_recorded"),
            triggers: names
                .into_iter()
                .zip(functions)
                .zip(enabled)
                .map(|((n, f), e)| (n, f, e))
                .collect(),
        }
    }

    /// The triggers (name, function) this relation must carry.
    fn expected(&self) -> Vec<(&'static str, &'static str)> {
        if !self.partitioned {
            return vec![
                ("replgen_insert", "insert"),
                ("replgen_update", "update"),
                ("replgen_delete", "delete"),
                ("replgen_key_update", "key"),
                ("replgen_truncate", "truncate"),
            ];
        }
        let mut expected = vec![
            ("replgen_insert", "insert"),
            ("replgen_update", "move"),
            ("replgen_delete", "delete"),
        ];
        // Only leaves hold rows, so only they log a TRUNCATE (it fires on every leaf it empties).
        if self.relkind != "p" {
            expected.push(("replgen_truncate", "part_truncate"));
        }
        expected
    }
}

/// What the cut must do about a table's partitions, once the capture is found complete.
#[derive(Default)]
struct Changes {
    /// (table, partition) whose rows to log as ADD, and whose keys as REMOVE.
    added: Vec<(&'static TableDef, String)>,
    removed: Vec<(&'static TableDef, String)>,
    /// Rows of replgen.partitions to write and to delete.
    record: Vec<(u32, i64, String)>,
    forget: Vec<(u32, i64)>,
}

/// Refuses, naming every table and partition, when the capture is incomplete; otherwise logs the
/// partitions attached and detached since the last cut and records the partitions now.
pub fn check(tx: &mut Transaction, schema: &'static SchemaDef) -> Result<()> {
    let nodes = read_nodes(tx, schema)?;
    let (changes, problems) = compare(schema, &nodes);
    problems?;
    apply(tx, changes)
}

/// The tables with partitions attached or detached since the last cut, which the next cut
/// publishes (as ADDs of their rows, REMOVEs of their keys): changes that no change log holds.
pub fn unpublished(
    client: &mut impl postgres::GenericClient,
    schema: &'static SchemaDef,
) -> Result<Vec<String>> {
    let nodes = read_nodes(client, schema)?;
    let (changes, _) = compare(schema, &nodes);
    let tables: BTreeSet<String> = changes
        .added
        .iter()
        .chain(&changes.removed)
        .map(|(table, _)| table.display_name())
        .collect();
    Ok(tables.into_iter().collect())
}

/// Every replicated table's partition tree with its capture triggers, and what the last cut
/// recorded of it.
fn read_nodes(
    client: &mut impl postgres::GenericClient,
    schema: &'static SchemaDef,
) -> Result<Vec<Node>> {
    let ids: Vec<i32> = schema.tables.iter().map(|t| t.id as i32).collect();
    let schemas: Vec<&str> = schema.tables.iter().map(|t| t.schema).collect();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name).collect();
    let rows = client
        .query(&sql::plain("partitions"), &[&ids, &schemas, &names])
        .context(|| "cannot read the capture triggers and partitions from the catalog".into())?;
    Ok(rows.iter().map(Node::from_row).collect())
}

/// The partitions' changes since the last cut, and whether the capture is complete.
fn compare(schema: &'static SchemaDef, nodes: &[Node]) -> (Changes, Result<()>) {
    let mut problems = Vec::new();
    let mut tables = BTreeSet::new();
    let mut changes = Changes::default();
    for node in nodes {
        let Some(table) = schema.table(node.table_id) else {
            // A record of a table no longer replicated: install forgets those.
            continue;
        };
        let what = if node.is_root {
            format!("table {}", table.display_name())
        } else {
            format!("partition {} of {}", node.name, table.display_name())
        };
        if !node.attached {
            if !node.present {
                tables.insert(table.display_name());
                problems.push(format!(
                    "{what} was dropped with its rows, which replicas still hold"
                ));
            } else {
                // Detached: its rows leave the table. A partitioned one's rows are in its
                // leaves, which are recorded too.
                if node.relkind != "p" {
                    changes.removed.push((table, node.name.clone()));
                }
                changes.forget.push((node.table_id, node.relid));
            }
            continue;
        }
        let before = problems.len();
        for (trigger, function) in node.expected() {
            let function = format!("capture_{}_{function}", table.id);
            match node.triggers.iter().find(|(n, _, _)| n == trigger) {
                None => problems.push(format!("{what}: trigger {trigger} is missing")),
                Some((_, f, _)) if *f != function => problems.push(format!(
                    "{what}: trigger {trigger} does not call replgen.{function}"
                )),
                Some((_, _, e)) if e != "A" => problems.push(format!(
                    "{what}: trigger {trigger} is {}, not ENABLE ALWAYS",
                    match e.as_str() {
                        "D" => "disabled",
                        "R" => "enabled for replica sessions only",
                        _ => "not enabled for replica sessions",
                    }
                )),
                Some(_) => {}
            }
        }
        if problems.len() > before {
            tables.insert(table.display_name());
        }
        if node.partitioned && !node.recorded {
            // A table seen for the first time starts from its partitions as they are; after
            // that, a partition not recorded was attached (or created) since the last cut.
            if node.table_recorded && node.relkind != "p" {
                changes.added.push((table, node.name.clone()));
            }
            changes
                .record
                .push((node.table_id, node.relid, node.name.clone()));
        }
    }
    let complete = match problems.is_empty() {
        true => Ok(()),
        false => Err(Error::CaptureIncomplete {
            tables: tables.into_iter().collect(),
            problems,
        }),
    };
    (changes, complete)
}

fn apply(tx: &mut Transaction, changes: Changes) -> Result<()> {
    for (kind, list) in [
        (KIND_ADDED, &changes.added),
        (KIND_REMOVED, &changes.removed),
    ] {
        for (table, rel) in list {
            tx.batch_execute(&sql::for_partition("partition_keys", table, rel, kind))
                .context(|| {
                    format!(
                        "cannot log the keys of partition {rel} of {}",
                        table.display_name()
                    )
                })?;
        }
    }
    if changes.record.is_empty() && changes.forget.is_empty() {
        return Ok(());
    }
    let (ids, relids, names): (Vec<i32>, Vec<i64>, Vec<String>) = changes
        .record
        .into_iter()
        .map(|(t, r, n)| (t as i32, r, n))
        .fold(
            (vec![], vec![], vec![]),
            |(mut a, mut b, mut c), (t, r, n)| {
                a.push(t);
                b.push(r);
                c.push(n);
                (a, b, c)
            },
        );
    let (forget_ids, forget_relids): (Vec<i32>, Vec<i64>) = changes
        .forget
        .into_iter()
        .map(|(t, r)| (t as i32, r))
        .unzip();
    tx.execute(
        &sql::plain("record_partitions"),
        &[&ids, &relids, &names, &forget_ids, &forget_relids],
    )
    .context(|| "cannot record the replicated tables' partitions".into())?;
    Ok(())
}

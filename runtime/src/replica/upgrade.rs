//! A replica's tables upgraded in place at a boundary packet (contract §5): the DDL comes from
//! the two layouts compiled into this binary, never from the feed, and runs in the packet's own
//! transaction, so a kill at any instant leaves the replica wholly before or wholly after.

use std::collections::HashSet;

use minijinja::context;
use postgres::Transaction;

use crate::def::{ColumnDef, SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::layout_change::{self, TableChange};
use crate::sql::{self, column_context};

/// What an upgrade did before the rows, and leaves for after them.
pub(super) struct Pending {
    /// The tables it created or emptied (a reloaded table whose layout changed).
    pub emptied: HashSet<u32>,
    /// `upgrade_table_after` statements, one per table that needs them.
    after: Vec<(String, String)>,
}

/// Checks that nothing on the replica blocks the upgrade from `from` to `to`, then runs every
/// statement that must come before the packet's rows. `reload` is the packet's list of tables
/// it sends whole; a change a replica cannot reproduce from its own rows must be in it.
pub(super) fn before_rows(
    tx: &mut Transaction,
    from: &'static SchemaDef,
    to: &'static SchemaDef,
    reload: &[u32],
    keep_dropped: bool,
    what: &str,
) -> Result<Pending> {
    let changes = layout_change::diff(from, to);
    check_reloads(&changes, reload, what)?;
    check_blockers(tx, &changes, to, keep_dropped, what)?;
    let mut pending = Pending {
        emptied: HashSet::new(),
        after: Vec::new(),
    };
    // Enum types the new layout defines and the old did not, before the tables that use them.
    for e in to.enums {
        if !from
            .enums
            .iter()
            .any(|f| (f.schema, f.name) == (e.schema, e.name))
        {
            tx.batch_execute(&format!(
                "{}{}",
                super::ddl::create_schema(e.schema),
                super::ddl::create_enum(e)
            ))
            .context(|| format!("cannot create the enum type {}.{}", e.schema, e.name))?;
        }
    }
    for change in &changes {
        match change {
            TableChange::Dropped(table) => {
                if !keep_dropped {
                    run(tx, &sql::for_table("drop_table", table), table)?;
                }
            }
            TableChange::Added(table) => {
                run(tx, &super::ddl::create_schema(table.schema), table)?;
                run(tx, &super::ddl::create_table(table), table)?;
                pending.emptied.insert(table.id);
            }
            TableChange::Changed(c) => {
                let emptied = reload.contains(&c.new.id);
                if emptied {
                    pending.emptied.insert(c.new.id);
                }
                let moved_qname = replgen_schema::capture::qualified_name(c.new.schema, c.old.name);
                let columns = |cols: &[&'static ColumnDef]| -> Vec<minijinja::Value> {
                    cols.iter().map(|col| column_context(col)).collect()
                };
                let retyped: Vec<&'static ColumnDef> =
                    c.retyped.iter().map(|(_, new)| *new).collect();
                let now_nullable: Vec<&'static ColumnDef> = c
                    .nullability
                    .iter()
                    .copied()
                    .filter(|col| col.nullable)
                    .collect();
                let now_not_null: Vec<&'static ColumnDef> = c
                    .nullability
                    .iter()
                    .copied()
                    .chain(c.added.iter().copied())
                    .filter(|col| !col.nullable)
                    .collect();
                let statements = sql::for_table_with(
                    "upgrade_table",
                    c.new,
                    context! {
                        old_qname => replgen_schema::capture::qualified_name(c.old.schema, c.old.name),
                        moved_qname,
                        rename_schema => c.old.schema != c.new.schema,
                        rename_name => c.old.name != c.new.name,
                        emptied,
                        drop_key => c.key_changed,
                        dropped => columns(&c.dropped),
                        renamed => c
                            .renamed_columns
                            .iter()
                            .map(|(old, new)| context! { old => column_context(old), new => column_context(new) })
                            .collect::<Vec<_>>(),
                        retyped => columns(&retyped),
                        now_nullable => columns(&now_nullable),
                        added => columns(&c.added),
                    },
                );
                run(tx, &statements, c.new)?;
                if !now_not_null.is_empty() || c.key_changed {
                    let after = sql::for_table_with(
                        "upgrade_table_after",
                        c.new,
                        context! {
                            now_not_null => columns(&now_not_null),
                            add_key => c.key_changed,
                        },
                    );
                    pending.after.push((c.new.display_name(), after));
                }
            }
        }
    }
    Ok(pending)
}

/// Labels the new layout adds to enum types both layouts define, each committed on its own
/// before the boundary packet's transaction (PostgreSQL cannot use a label added in the same
/// transaction). Adding a label changes no row, so doing it early is harmless.
pub(super) fn add_enum_labels(
    client: &mut postgres::Client,
    from: &'static SchemaDef,
    to: &'static SchemaDef,
) -> Result<()> {
    for e in to.enums {
        let Some(old) = from
            .enums
            .iter()
            .find(|f| (f.schema, f.name) == (e.schema, e.name))
        else {
            continue;
        };
        for (label, after, before) in crate::layout_change::label_additions(old.labels, e.labels) {
            client
                .batch_execute(&sql::add_enum_label(e, label, after, before))
                .context(|| {
                    format!(
                        "cannot add label {label} to the enum type {}.{}",
                        e.schema, e.name
                    )
                })?;
        }
    }
    Ok(())
}

/// After the rows: NOT NULL where the new layout wants it, and a changed primary key.
pub(super) fn after_rows(tx: &mut Transaction, pending: Pending) -> Result<()> {
    for (table, statements) in pending.after {
        tx.batch_execute(&statements)
            .context(|| format!("cannot finish upgrading {table}"))?;
    }
    Ok(())
}

/// Refuses a `--replica-sql` folder that is not there, or that holds a `.sql` file the upgrade
/// would never run (a name other than `v<N>.sql` for a version this binary knows): a version's
/// own SQL left out silently is a mirror without its indexes or views.
pub fn check_replica_sql(dir: &std::path::Path, schema: &'static SchemaDef) -> Result<()> {
    let refuse = |problem: String| Error::ReplicaSqlFolder {
        dir: dir.display().to_string(),
        problem,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let known: Vec<u32> = schema
        .earlier
        .iter()
        .map(|l| l.version)
        .chain([schema.version])
        .collect();
    let mut strays = Vec::new();
    for entry in entries {
        let name = entry
            .map_err(|e| refuse(format!("cannot read it: {e}")))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let version = stem.strip_prefix('v').and_then(|n| n.parse::<u32>().ok());
        if !version.is_some_and(|v| known.contains(&v) && stem == format!("v{v}")) {
            strays.push(name);
        }
    }
    if strays.is_empty() {
        return Ok(());
    }
    strays.sort();
    let known: Vec<String> = known.iter().map(|v| format!("v{v}.sql")).collect();
    Err(refuse(format!(
        "{} would never run (this binary runs {} at the upgrade to that version)",
        strays.join(", "),
        known.join(", ")
    )))
}

/// The mirror's own `DIR/v<version>.sql`, when there is one, in the upgrade's transaction.
pub(super) fn run_replica_sql(
    tx: &mut Transaction,
    dir: &std::path::Path,
    version: u32,
) -> Result<()> {
    let path = dir.join(format!("v{version}.sql"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                context: format!("cannot read {}", path.display()),
                source,
            })
        }
    };
    tx.batch_execute(&text)
        .context(|| format!("{} failed (nothing was changed)", path.display()))
}

/// A change this replica cannot reproduce must come with the table's rows; a feed that says
/// otherwise would leave the replica silently wrong.
fn check_reloads(changes: &[TableChange], reload: &[u32], what: &str) -> Result<()> {
    for change in changes {
        let (table, needs) = match change {
            TableChange::Added(t) => (*t, true),
            TableChange::Dropped(_) => continue,
            TableChange::Changed(c) => (c.new, !c.derivable_except_added()),
        };
        if needs && !reload.contains(&table.id) {
            return Err(Error::UpgradeRefused {
                what: what.to_string(),
                reason: format!(
                    "its layout change to {} cannot be reproduced from the replica's rows, but the \
                     packet does not reload that table",
                    table.display_name()
                ),
            });
        }
    }
    Ok(())
}

/// Names every object the upgrade's DDL would break, and every type it needs that is missing.
fn check_blockers(
    tx: &mut Transaction,
    changes: &[TableChange],
    to: &'static SchemaDef,
    keep_dropped: bool,
    what: &str,
) -> Result<()> {
    let (mut schemas, mut tables, mut columns): (Vec<&str>, Vec<&str>, Vec<Option<&str>>) =
        Default::default();
    let mut types: Vec<&str> = Vec::new();
    let mut touch = |t: &TableDef, column: Option<&'static str>| {
        schemas.push(t.schema);
        tables.push(t.name);
        columns.push(column);
    };
    for change in changes {
        match change {
            TableChange::Dropped(t) if !keep_dropped => touch(t, None),
            TableChange::Dropped(_) => {}
            TableChange::Added(t) => types.extend(t.columns.iter().map(|c| c.sql_type)),
            TableChange::Changed(c) => {
                for col in &c.dropped {
                    touch(c.old, Some(col.name));
                }
                for (old, new) in &c.retyped {
                    touch(c.old, Some(old.name));
                    types.push(new.sql_type);
                }
                types.extend(c.added.iter().map(|col| col.sql_type));
            }
        }
    }
    // The enum types the new layout defines are created by the upgrade itself.
    types.retain(|t| !to.enums.iter().any(|e| layout_change::names_enum(t, e)));
    types.sort_unstable();
    types.dedup();
    let blockers: Vec<String> = tx
        .query(
            &sql::plain("upgrade_blockers"),
            &[&schemas, &tables, &columns, &types],
        )
        .context(|| "cannot read what depends on the tables an upgrade changes".into())?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if blockers.is_empty() {
        return Ok(());
    }
    Err(Error::UpgradeRefused {
        what: what.to_string(),
        reason: format!(
            "the replica's tables cannot be upgraded in place; first drop or change: {}",
            blockers.join("; ")
        ),
    })
}

fn run(tx: &mut Transaction, statements: &str, table: &TableDef) -> Result<()> {
    tx.batch_execute(statements)
        .context(|| format!("cannot upgrade {} to the new layout", table.display_name()))
}

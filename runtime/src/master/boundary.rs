//! The boundary packet of a schema change (contract §5): the first cut after an upgraded
//! capture publishes the new version, with every table a replica cannot bring to the master's
//! state by itself sent whole, as a table reload.
//!
//! The schema.yaml diff alone cannot tell which those are: it records no defaults, a backfill
//! may already have been published in the old layout, and a type change's USING is the
//! application's. So a table is left out only where the change is provably reproducible: a
//! lossless widening, or added columns that are NULL in every row of this cut's own snapshot.

use postgres::Transaction;

use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::layout_change::{self, TableChange};
use crate::sql;

/// The layout replicas of this feed may be at, when it is not `installed`: the boundary's
/// starting point. `None` when there is no boundary to publish (nothing published yet, or
/// everything already in the installed version).
pub(super) fn published_layout(
    tx: &mut Transaction,
    binary: &'static SchemaDef,
    installed: &'static SchemaDef,
) -> Result<Option<&'static SchemaDef>> {
    let row = tx
        .query_one(&sql::plain("published_layout"), &[])
        .context(|| "cannot read the schema_version of the feed's last packet".into())?;
    let versions = [row.get::<_, Option<i32>>(0), row.get::<_, Option<i32>>(1)];
    let Some(oldest) = versions.into_iter().flatten().min() else {
        return Ok(None);
    };
    let oldest = oldest as u32;
    if oldest > installed.version {
        return Err(Error::LayoutBehindFeed {
            installed: installed.version,
            published: oldest,
        });
    }
    if oldest == installed.version {
        return Ok(None);
    }
    binary
        .layout(oldest)
        .map(Some)
        .ok_or_else(|| Error::LayoutUnknown {
            version: oldest,
            known: binary.known_versions(),
        })
}

/// The tables the boundary packet from `from` to `to` reloads, in id order. Runs in the cut's
/// snapshot, after the tables are locked.
pub(super) fn reloads(
    tx: &mut Transaction,
    from: &'static SchemaDef,
    to: &'static SchemaDef,
) -> Result<Vec<&'static TableDef>> {
    let mut reload = Vec::new();
    for change in layout_change::diff(from, to) {
        match change {
            TableChange::Dropped(_) => {}
            // A table that joins the spec may already hold rows.
            TableChange::Added(table) => reload.push(table),
            TableChange::Changed(changed) => {
                if !changed.derivable_except_added()
                    || (!changed.added.is_empty() && !all_null(tx, changed.new, &changed.added)?)
                {
                    reload.push(changed.new);
                }
            }
        }
    }
    // A renamed enum label changed rows no trigger saw change.
    reload.extend(layout_change::tables_of_renamed_labels(from, to));
    Ok(reload)
}

fn all_null(
    tx: &mut Transaction,
    table: &'static TableDef,
    columns: &[&'static crate::def::ColumnDef],
) -> Result<bool> {
    Ok(tx
        .query_one(&sql::for_columns("all_null", table, columns), &[])
        .context(|| {
            format!(
                "cannot read whether the new columns of {} hold values",
                table.display_name()
            )
        })?
        .get(0))
}

/// The tables `dump --resync` names (`schema.table`, or a table name that is unique), or a
/// refusal naming the unknown one and the replicated tables.
pub(super) fn resync_tables(
    schema: &'static SchemaDef,
    names: &[String],
) -> Result<Vec<&'static TableDef>> {
    names
        .iter()
        .map(|name| {
            let qualified: Vec<&'static TableDef> = schema
                .tables
                .iter()
                .copied()
                .filter(|t| t.display_name() == *name)
                .collect();
            let unqualified: Vec<&'static TableDef> = schema
                .tables
                .iter()
                .copied()
                .filter(|t| t.name == name.as_str())
                .collect();
            match (qualified.as_slice(), unqualified.as_slice()) {
                ([t], _) | ([], [t]) => Ok(*t),
                _ => Err(Error::UnknownTable {
                    name: name.clone(),
                    tables: schema
                        .tables
                        .iter()
                        .map(|t| t.display_name())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        })
        .collect()
}

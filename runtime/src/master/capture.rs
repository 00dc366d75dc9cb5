//! Whether the capture installed in the database is the one this binary was generated with: a
//! forgotten migration would otherwise produce packets nobody can apply.

use postgres::{Client, GenericClient};

use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::sql;

/// Refuses to install this binary's capture over a newer one (an older binary run by mistake
/// would take the feed back to a layout it has left, and every later cut would refuse).
pub fn check_not_newer(client: &mut impl GenericClient, schema: &'static SchemaDef) -> Result<()> {
    match installed(client)? {
        Some((installed, _)) if installed > schema.version => Err(Error::InstallOlder {
            installed,
            binary: schema.version,
        }),
        _ => Ok(()),
    }
}

/// The layout of the database's capture: this binary's own or one of its earlier layouts (a
/// binary deployed before its install migration ran keeps cutting the installed version).
/// Refuses a layout this binary does not know. Only a missing `replgen.meta` means "not
/// installed"; any other failure (permission denied, a lost connection, a timeout) is reported
/// as itself.
pub fn installed_layout(
    client: &mut impl GenericClient,
    schema: &'static SchemaDef,
) -> Result<&'static SchemaDef> {
    let (version, fingerprint) = installed(client)?.ok_or(Error::NotInstalled)?;
    match schema.layout(version) {
        Some(layout) if layout.fingerprint == fingerprint => Ok(layout),
        _ => Err(Error::CaptureMismatch {
            installed_version: version,
            installed_fingerprint: fingerprint,
            binary_version: schema.version,
            known: schema.known_versions(),
        }),
    }
}

/// Removes change capture and replgen's state (the binary's uninstall migration), in one
/// transaction; whether capture was installed. Unless `drop_uncut`, the replicated tables (of
/// every layout the binary knows) are first locked against writers, and the uninstall refused
/// while changes no packet has published wait: in a change log, or a partition attached or
/// detached since the last cut. They would go with replgen's state, and the feed's replicas
/// would never get them.
pub fn uninstall(
    client: &mut Client,
    schema: &'static SchemaDef,
    drop_uncut: bool,
) -> Result<bool> {
    // The migration's own BEGIN is then a warning, and its COMMIT ends this transaction; an
    // error drops the connection, which rolls it back.
    client
        .batch_execute("BEGIN")
        .context(|| "cannot begin the uninstall".into())?;
    let was_installed = installed(client)?.is_some();
    if was_installed && !drop_uncut {
        let mut tables: Vec<&'static TableDef> = Vec::new();
        for layout in std::iter::once(schema).chain(schema.earlier.iter().copied()) {
            for &t in layout.tables {
                if !tables
                    .iter()
                    .any(|k| (k.schema, k.name) == (t.schema, t.name))
                {
                    tables.push(t);
                }
            }
        }
        client
            .batch_execute(&sql::for_tables("uninstall_lock", &tables))
            .context(|| "cannot lock the replicated tables against writers".into())?;
        let mut uncut = uncut_tables(client, schema)?;
        for table in super::partitions::unpublished(client, schema)? {
            if !uncut.contains(&table) {
                uncut.push(table);
            }
        }
        if !uncut.is_empty() {
            return Err(Error::UninstallUncut {
                tables: uncut.join(", "),
            });
        }
    }
    client
        .batch_execute(schema.uninstall_sql)
        .context(|| "the uninstall migration failed".into())?;
    Ok(was_installed)
}

/// The tables whose change logs hold changes no packet has published yet, named as `schema`
/// (or a layout before it) names them, by id otherwise.
fn uncut_tables(
    client: &mut impl GenericClient,
    schema: &'static SchemaDef,
) -> Result<Vec<String>> {
    let ids = client
        .query(&sql::plain("uncut_logs"), &[])
        .context(|| "cannot read the change logs".into())?;
    Ok(ids
        .iter()
        .map(|row| {
            let id = row.get::<_, i32>(0) as u32;
            std::iter::once(schema)
                .chain(schema.earlier.iter().rev().copied())
                .find_map(|layout| layout.table(id))
                .map_or_else(|| format!("the table of id {id}"), |t| t.display_name())
        })
        .collect())
}

/// The installed capture's schema_version and fingerprint; None when it is not installed.
fn installed(client: &mut impl GenericClient) -> Result<Option<(u32, String)>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('replgen.meta') IS NOT NULL", &[])
        .context(|| "cannot look for replgen.meta".into())?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(&sql::plain("capture_installed"), &[])
        .context(|| "cannot read replgen.meta".into())?;
    Ok(row.map(|row| (row.get::<_, i32>(0) as u32, row.get(1))))
}

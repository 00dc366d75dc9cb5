//! Whether the capture installed in the database is the one this binary was generated with: a
//! forgotten migration would otherwise produce packets nobody can apply.

use postgres::GenericClient;

use crate::def::SchemaDef;
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

/// The tables whose change logs hold changes no packet has published yet, named as `schema`
/// (or any layout it knows) names them, by id otherwise; empty without capture.
pub fn uncut_tables(
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

//! Whether the capture installed in the database is the one this binary was generated with: a
//! forgotten migration would otherwise produce packets nobody can apply.

use postgres::Client;

use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::sql;

/// Refuses unless the database's capture is this binary's layout. Only a missing
/// `replgen.meta` means "not installed"; any other failure (permission denied, a lost
/// connection, a timeout) is reported as itself.
pub(super) fn check_installed(client: &mut Client, schema: &SchemaDef) -> Result<()> {
    let exists: bool = client
        .query_one("SELECT to_regclass('replgen.meta') IS NOT NULL", &[])
        .context(|| "cannot look for replgen.meta".into())?
        .get(0);
    if !exists {
        return Err(Error::NotInstalled);
    }
    let row = client
        .query_opt(&sql::plain("capture_installed"), &[])
        .context(|| "cannot read replgen.meta".into())?
        .ok_or(Error::NotInstalled)?;
    let version: i32 = row.get(0);
    let fingerprint: String = row.get(1);
    if version as u32 != schema.version || fingerprint != schema.fingerprint {
        return Err(Error::CaptureMismatch {
            installed_version: version as u32,
            installed_fingerprint: fingerprint,
            binary_version: schema.version,
            binary_fingerprint: schema.fingerprint.to_string(),
        });
    }
    Ok(())
}

//! A replica's position: the last packet applied (or the export imported), written in the
//! same transaction as the data it describes.

use postgres::{Client, Transaction};

use crate::error::{Context, Result};

/// A replica's position: the last packet applied (or the export imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub serial: u64,
    pub schema_version: u32,
    pub fingerprint: String,
    pub packet_created: String,
    pub applied_at: String,
    /// Set by an import: `packet_created` is then the export's time.
    pub imported: bool,
}

/// Records the replica's new position, inside the transaction that changed its data.
pub(super) fn set(
    tx: &mut Transaction,
    serial: u64,
    schema_version: u32,
    fingerprint: &str,
    created: &str,
    imported: bool,
) -> Result<()> {
    tx.execute(
        "INSERT INTO replgen.replica_state (id, serial, schema_version, fingerprint, packet_created, applied_at, imported) \
         VALUES (true, $1, $2, $3, $4, now(), $5) \
         ON CONFLICT (id) DO UPDATE SET serial = EXCLUDED.serial, schema_version = EXCLUDED.schema_version, \
         fingerprint = EXCLUDED.fingerprint, packet_created = EXCLUDED.packet_created, applied_at = now(), \
         imported = EXCLUDED.imported",
        &[&(serial as i64), &(schema_version as i32), &fingerprint, &created, &imported],
    )
    .map(|_| ())
    .context(|| "cannot record the replica's position".into())
}

pub(super) fn read(client: &mut Client) -> Result<Option<Position>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('replgen.replica_state') IS NOT NULL",
            &[],
        )
        .context(|| "cannot read the replica's position".into())?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(
            "SELECT serial, schema_version, fingerprint, packet_created, \
             to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
             coalesce((to_jsonb(s) ->> 'imported')::boolean, false) FROM replgen.replica_state s",
            &[],
        )
        .context(|| "cannot read the replica's position".into())?;
    Ok(row.map(|r| Position {
        serial: r.get::<_, i64>(0) as u64,
        schema_version: r.get::<_, i32>(1) as u32,
        fingerprint: r.get(2),
        packet_created: r.get(3),
        applied_at: r.get(4),
        imported: r.get(5),
    }))
}

/// The position inside a transaction, locked until it ends (`None` before the first import or
/// packet), so that two processes can never both apply on top of it.
pub(super) fn lock(tx: &mut Transaction) -> Result<Option<u64>> {
    Ok(tx
        .query_opt("SELECT serial FROM replgen.replica_state FOR UPDATE", &[])
        .context(|| "cannot read replgen.replica_state".into())?
        .map(|row| row.get::<_, i64>(0) as u64))
}

//! A replica's position: the last packet applied (or the export imported), written in the
//! same transaction as the data it describes.

use postgres::{Client, Transaction};

use crate::error::{Context, Result};
use crate::sql;

/// A replica's position: the last packet applied (or the export imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub serial: u64,
    pub schema_version: u32,
    pub fingerprint: String,
    pub packet_created: String,
    pub applied_at: String,
    /// The feed the replica follows (unknown for a position written by an older binary).
    pub feed: Option<String>,
    /// The sha256 of the packet applied last, which the next packet names as its predecessor.
    pub last_sha256: Option<String>,
    /// Set by an import: `packet_created` is then the export's time.
    pub imported: bool,
}

/// A new position, written with the data it describes.
pub(super) struct Update<'a> {
    pub serial: u64,
    pub schema_version: u32,
    pub fingerprint: &'a str,
    pub created: &'a str,
    pub feed: Option<&'a str>,
    pub last_sha256: Option<&'a str>,
    pub imported: bool,
}

/// Records the replica's new position, inside the transaction that changed its data.
pub(super) fn set(tx: &mut Transaction, new: &Update) -> Result<()> {
    tx.execute(
        &sql::plain("set_position"),
        &[
            &(new.serial as i64),
            &(new.schema_version as i32),
            &new.fingerprint,
            &new.created,
            &new.feed,
            &new.last_sha256,
            &new.imported,
        ],
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
    // Through to_jsonb, so that `status` also reads a state table an older binary created
    // (without the feed columns) without altering it.
    let row = client
        .query_opt(
            "SELECT serial, schema_version, fingerprint, packet_created, \
             to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
             to_jsonb(s) ->> 'feed', to_jsonb(s) ->> 'last_sha256', \
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
        feed: r.get(5),
        last_sha256: r.get(6),
        imported: r.get(7),
    }))
}

/// The serial and layout of a position, as read under its lock.
pub(super) struct Locked {
    pub serial: u64,
    pub schema_version: u32,
    pub fingerprint: String,
}

/// The position inside a transaction, locked until it ends (`None` before the first import or
/// packet), so that two processes can never both apply on top of it.
pub(super) fn lock(tx: &mut Transaction) -> Result<Option<Locked>> {
    Ok(tx
        .query_opt(
            "SELECT serial, schema_version, fingerprint FROM replgen.replica_state FOR UPDATE",
            &[],
        )
        .context(|| "cannot read replgen.replica_state".into())?
        .map(|row| Locked {
            serial: row.get::<_, i64>(0) as u64,
            schema_version: row.get::<_, i32>(1) as u32,
            fingerprint: row.get(2),
        }))
}

//! The replica side: [`apply`] verifies packets and applies them in serial order, each with the
//! position in one transaction; [`import`] loads an export into empty tables; [`position`] is
//! the small state a replica keeps; [`rows`] checks and stages the lines of both.

mod apply;
mod import;
mod position;
mod rows;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use postgres::Client;

pub use apply::ApplySummary;
pub use position::Position;

use crate::db::{self, LOCK_REPLICA};
use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::packet::Limits;
use crate::sql;

pub struct Replica {
    client: Client,
    schema: &'static SchemaDef,
    pub limits: Limits,
    /// Private (0700), unpredictable, removed on drop: where downloads wait to be applied.
    work_dir: tempfile::TempDir,
    /// Set (by a signal handler) to stop between packets.
    pub stop: Arc<AtomicBool>,
}

impl Replica {
    /// Connects, creates the replica's state table if needed and takes the replica lock.
    pub fn connect(db: &str, schema: &'static SchemaDef) -> Result<Replica> {
        let mut client = db::connect(db)?;
        // Staging tables are temporary: give them memory before the first one exists.
        let _ = client.batch_execute("SET temp_buffers = '256MB'");
        client
            .batch_execute(&sql::plain("replica_state"))
            .context(|| "cannot create replgen.replica_state".into())?;
        if !db::try_lock_patiently(&mut client, LOCK_REPLICA)? {
            return Err(Error::Busy(
                "another apply or import is running against this replica; only one may change it at a time",
            ));
        }
        let work_dir = tempfile::Builder::new()
            .prefix("replgen-apply-")
            .tempdir()
            .context(|| "cannot create a private folder for downloads".into())?;
        Ok(Replica {
            client,
            schema,
            limits: Limits::default(),
            work_dir,
            stop: Default::default(),
        })
    }

    /// Connects for reading the position only (no lock, nothing created).
    pub fn position_of(db: &str) -> Result<Option<Position>> {
        let mut client = db::connect(db)?;
        position::read(&mut client)
    }

    pub fn position(&mut self) -> Result<Option<Position>> {
        position::read(&mut self.client)
    }

    /// Refuses what was cut with another layout than this binary's.
    fn check_schema(&self, version: u32, fingerprint: &str, what: &str) -> Result<()> {
        if version != self.schema.version {
            return Err(Error::SchemaVersion {
                what: what.to_string(),
                version,
                binary_version: self.schema.version,
            });
        }
        if fingerprint != self.schema.fingerprint {
            return Err(Error::SchemaLayout {
                what: what.to_string(),
                version,
                fingerprint: fingerprint.to_string(),
                binary_fingerprint: self.schema.fingerprint.to_string(),
            });
        }
        Ok(())
    }
}

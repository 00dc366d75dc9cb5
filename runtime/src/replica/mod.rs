//! The replica side: [`apply`] verifies packets and applies them in serial order, each with the
//! position in one transaction; [`import`] loads an export into empty tables; [`position`] is
//! the small state a replica keeps; [`rows`] checks and stages the lines of both; [`init`] creates
//! a new mirror's tables with the DDL of [`ddl`].

mod apply;
pub use apply::prepare_stage;
pub mod ddl;
mod held;
mod import;
mod init;
mod lines;
mod newest;
mod position;
mod rows;
pub mod upgrade;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use postgres::{Client, GenericClient, Transaction};

pub use apply::ApplySummary;
pub use init::{init, InitSummary};
pub use position::Position;

use crate::db::{self, LOCK_REPLICA};
use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::packet::Limits;
use crate::sql;

/// How apply and import run, decided once per connection from the role's privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// `session_replication_role = replica`, as PostgreSQL's subscribers apply: foreign-key
    /// actions and ordinary triggers and rules do not fire; ENABLE ALWAYS/REPLICA ones do.
    Replica,
    /// An ordinary session: the role may not set the parameter, and the replicated tables have
    /// no foreign-key action, ordinary trigger, rule or policy that could fire.
    Origin,
}

impl ApplyMode {
    /// One line that says which mode runs and why.
    pub fn describe(self) -> &'static str {
        match self {
            ApplyMode::Replica => {
                "applying with session_replication_role = replica (this role may set it): \
                 foreign-key actions and ordinary triggers and rules do not fire; triggers marked \
                 ENABLE ALWAYS or ENABLE REPLICA do"
            }
            ApplyMode::Origin => {
                "applying with session_replication_role = origin (this role may not set it to \
                 replica); the replicated tables have no foreign-key action, ordinary trigger, rule \
                 or row-level security policy that could fire"
            }
        }
    }
}

pub struct Replica {
    client: Client,
    /// Every layout this binary knows: packets apply with the layout they were cut with.
    schema: &'static SchemaDef,
    /// Keep the tables a newer layout no longer replicates instead of dropping them.
    pub keep_dropped: bool,
    /// A folder of the mirror's own SQL per version (`v<N>.sql`: indexes, views, functions it
    /// keeps beside the data), run in the boundary packet's transaction after the upgrade to N.
    pub replica_sql: Option<std::path::PathBuf>,
    mode: ApplyMode,
    pub limits: Limits,
    /// Set (by a signal handler) to stop between packets.
    pub stop: Arc<AtomicBool>,
    /// Rows read so far by the running apply or import, for a progress display.
    pub tally: Arc<crate::tally::Tally>,
}

impl Replica {
    /// Connects, refuses a database that publishes a feed (unless `cascade`) and one where
    /// apply could not run safely (see [`ApplyMode`]), then creates the replica's state table if
    /// needed and takes the replica lock. Nothing is changed before both checks pass.
    pub fn connect(db: &str, schema: &'static SchemaDef, cascade: bool) -> Result<Replica> {
        let mut client = db::connect(db)?;
        let publishes: bool = client
            .query_one("SELECT to_regclass('replgen.meta') IS NOT NULL", &[])
            .context(|| "cannot look for replgen.meta".into())?
            .get(0);
        if publishes && !cascade {
            return Err(Error::PublishesFeed);
        }
        let mode = apply_mode(&mut client, schema)?;
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
        Ok(Replica {
            client,
            schema,
            keep_dropped: false,
            replica_sql: None,
            mode,
            limits: Limits::default(),
            stop: Default::default(),
            tally: Default::default(),
        })
    }

    /// How this connection applies.
    pub fn mode(&self) -> ApplyMode {
        self.mode
    }

    /// Connects for reading the position only (no lock, nothing created).
    pub fn position_of(db: &str) -> Result<Option<Position>> {
        let mut client = db::connect(db)?;
        position::read(&mut client)
    }

    pub fn position(&mut self) -> Result<Option<Position>> {
        position::read(&mut self.client)
    }

    /// The layout `what` was cut with, among those this binary knows; refuses any other.
    fn layout_of(&self, version: u32, fingerprint: &str, what: &str) -> Result<&'static SchemaDef> {
        layout_of(self.schema, version, fingerprint, what)
    }
}

fn layout_of(
    binary: &'static SchemaDef,
    version: u32,
    fingerprint: &str,
    what: &str,
) -> Result<&'static SchemaDef> {
    let Some(layout) = binary.layout(version) else {
        return Err(Error::SchemaVersion {
            what: what.to_string(),
            version,
            known: binary.known_versions(),
        });
    };
    if fingerprint != layout.fingerprint {
        return Err(Error::SchemaLayout {
            what: what.to_string(),
            version,
            fingerprint: fingerprint.to_string(),
            binary_fingerprint: layout.fingerprint.to_string(),
        });
    }
    Ok(layout)
}

/// Decides how apply runs here; refuses, naming them, when the role may not set
/// session_replication_role and objects on the replicated tables would fire.
fn apply_mode(client: &mut impl GenericClient, schema: &SchemaDef) -> Result<ApplyMode> {
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::integer", &[])
        .context(|| "cannot read the server's version".into())?
        .get(0);
    let may_set: bool = client
        .query_opt(&sql::apply_mode(version >= 150_000), &[])
        .context(|| "cannot read this role's privileges".into())?
        .map(|row| row.get(0))
        .unwrap_or(false);
    if may_set {
        return Ok(ApplyMode::Replica);
    }
    check_hazards(client, schema)?;
    Ok(ApplyMode::Origin)
}

fn check_hazards(client: &mut impl GenericClient, schema: &SchemaDef) -> Result<()> {
    let objects: Vec<String> = client
        .query(&sql::for_tables("replica_hazards", schema.tables), &[])
        .context(|| {
            "cannot read the replicated tables' foreign keys, triggers, rules and policies".into()
        })?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if objects.is_empty() {
        Ok(())
    } else {
        Err(Error::ReplicaHazards { objects })
    }
}

/// Starts an apply or import transaction in this connection's mode, with row-level security
/// off (a policy must never hide rows from apply's deletes). In the origin mode the objects are
/// checked again, inside the transaction: one created since the connection would fire.
fn begin<'a>(
    client: &'a mut Client,
    schema: &SchemaDef,
    mode: ApplyMode,
) -> Result<Transaction<'a>> {
    let mut tx = client
        .transaction()
        .context(|| "cannot begin a transaction".into())?;
    tx.batch_execute("SET LOCAL row_security = off")
        .context(|| "cannot set row_security = off".into())?;
    match mode {
        ApplyMode::Replica => tx
            .batch_execute("SET LOCAL session_replication_role = replica")
            .context(|| "cannot set session_replication_role = replica".into())?,
        ApplyMode::Origin => check_hazards(&mut tx, schema)?,
    }
    Ok(tx)
}

/// Refuses an index of another feed than the one `position` follows (a position written by an
/// older binary names none).
pub(crate) fn check_followed_feed(
    source: &crate::source::Source,
    index: &crate::index::Index,
    position: Option<&position::Position>,
) -> Result<()> {
    let found = index.feed.as_ref().map(|f| f.id.clone());
    match position.and_then(|p| p.feed.clone()) {
        Some(followed) if found.as_deref() != Some(followed.as_str()) => Err(Error::OtherFeed {
            feed: source.describe(""),
            followed,
            found,
        }),
        _ => Ok(()),
    }
}

/// What a replica refuses of a signed feed's index before trusting anything in it (`apply`
/// refuses both always): another feed than the one it follows (unless `other_feed_allowed`,
/// as for `import --replace`), and serials behind its position (a replayed older index).
pub(crate) fn check_signed_index(
    source: &crate::source::Source,
    index: &crate::index::Index,
    position: Option<&position::Position>,
    other_feed_allowed: bool,
) -> Result<()> {
    let Some(position) = position.filter(|_| source.requires_signature()) else {
        return Ok(());
    };
    if let Err(other_feed) = check_followed_feed(source, index, Some(position)) {
        // Then the serials of the old feed say nothing of the new one's.
        return if other_feed_allowed {
            Ok(())
        } else {
            Err(other_feed)
        };
    }
    check_feed_not_behind(index, Some(position))
}

/// Refuses an index whose newest serial (a packet's or the export's) is behind the replica's
/// position: the feed was rolled back, or is another master's.
pub(crate) fn check_feed_not_behind(
    index: &crate::index::Index,
    position: Option<&position::Position>,
) -> Result<()> {
    let Some(position) = position else {
        return Ok(());
    };
    let newest = index
        .newest_serial()
        .into_iter()
        .chain(index.export.as_ref().map(|e| e.serial))
        .max();
    match newest {
        Some(newest) if newest < position.serial => Err(Error::FeedBehindReplica {
            replica: position.serial,
            newest,
        }),
        _ => Ok(()),
    }
}

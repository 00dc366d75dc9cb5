//! The master side: a connection that checks the installed capture ([`capture`]), cuts packets
//! ([`cut`]), writes exports ([`export`]) and finishes what an interrupted dumper left
//! ([`recovery`]); the feed folder itself is [`crate::feed`].

mod boundary;
pub(crate) mod capture;
mod cut;
mod export;
mod identity;
pub mod live_tables;
mod partitions;
mod recovery;

use std::path::PathBuf;

use postgres::Client;

pub use capture::{installed_layout, uninstall};
pub use cut::CutSummary;
pub use export::ExportSummary;

use crate::db::{self, LOCK_DUMPER};
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::feed::Feed;
use crate::index::{Entry, FeedInfo, Index};
use crate::signing::SigningKey;
use crate::sql;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct DumpOptions {
    pub out: PathBuf,
    /// How many packets index.xml lists (older ones are pruned from it).
    pub keep: usize,
    /// Also delete the files of packets pruned from the index.
    pub delete_pruned: bool,
    /// Write a packet even when nothing changed (a heartbeat for mirrors).
    pub empty_packets: bool,
    /// gzip level 0-9.
    pub compression: u32,
    /// VACUUM the change logs a cut consumed.
    pub vacuum: bool,
    /// Start a new feed in `out` (a new identity; the old feed's cuts are forgotten).
    pub new_feed: bool,
    /// Tables the next cut publishes whole, as table reloads (`dump --resync TABLE`): the way
    /// out after capture was missing or disabled on a table.
    pub resync: Vec<String>,
    /// Sign every index.xml with these keys (`index.xml.minisig`); none: unsigned.
    pub sign_keys: Arc<Vec<SigningKey>>,
    /// With no `sign_keys`, stop signing a feed that is signed (`--unsigned`); without it such a
    /// feed is refused, since replicas that check its signature would refuse it from then on.
    pub unsigned: bool,
}

impl DumpOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        DumpOptions {
            out: out.into(),
            keep: 1000,
            delete_pruned: false,
            empty_packets: false,
            compression: 3,
            vacuum: true,
            new_feed: false,
            resync: Vec::new(),
            sign_keys: Arc::default(),
            unsigned: false,
        }
    }
}

/// A connection to the master that owns the right to cut (the dumper lock).
pub struct Master {
    client: Client,
    /// Every layout this binary knows (its own and the earlier ones).
    binary: &'static SchemaDef,
    /// The installed capture's layout, which cuts and exports publish.
    schema: &'static SchemaDef,
    opts: DumpOptions,
    feed: Feed,
    /// The identity this database publishes.
    identity: FeedInfo,
    /// Whether this feed has published anything (then its folder must have an index).
    published: bool,
    /// Rows written so far by a running export, for a progress display.
    pub tally: std::sync::Arc<crate::tally::Tally>,
    /// The export whose packets were last said to outnumber `--keep` (said once per export).
    warned_export: Option<u64>,
}

impl Master {
    /// Connects, checks that the installed capture matches this binary, prepares the state
    /// tables and, when `exclusive`, takes the dumper lock (refusing if another dumper has it).
    pub fn connect(
        db: &str,
        schema: &'static SchemaDef,
        opts: DumpOptions,
        exclusive: bool,
    ) -> Result<Master> {
        let mut client = db::connect(db)?;
        let binary = schema;
        let schema = match capture::installed_layout(&mut client, binary) {
            // A replica pointed at by mistake: `install` here is not the way forward.
            Err(Error::NotInstalled) => {
                return Err(match crate::replica::Replica::position_of(db)? {
                    Some(p) => Error::NotInstalledOnReplica { serial: p.serial },
                    None => Error::NotInstalled,
                })
            }
            other => other?,
        };
        client
            .batch_execute(&sql::plain("state"))
            .context(|| "cannot create replgen's state tables".into())?;
        if exclusive && !db::try_lock_patiently(&mut client, LOCK_DUMPER)? {
            return Err(Error::Busy(
                "another dumper is running against this database; only one may cut packets at a time",
            ));
        }
        let feed = Feed::open(&opts.out)?;
        if opts.sign_keys.is_empty()
            && !opts.unsigned
            && feed
                .read_published(crate::signing::SIGNATURE_FILE)?
                .is_some()
        {
            return Err(Error::FeedSigned);
        }
        if opts.new_feed {
            identity::start_new(&mut client, &feed)?;
        }
        let (identity, published) = identity::load(&mut client)?;
        let mut master = Master {
            client,
            binary,
            schema,
            opts,
            feed,
            identity,
            published,
            tally: Default::default(),
            warned_export: None,
        };
        // A new feed replaces whatever the folder held; recovery writes its first index.
        if !master.opts.new_feed {
            let (last, _) = cut::last_cut(&mut master.client)?;
            master.check_folder(last)?;
        }
        master.recover()?;
        Ok(master)
    }

    /// The serial of the newest packet cut (0 before the first).
    pub fn last_serial(&mut self) -> Result<u64> {
        cut::last_cut(&mut self.client).map(|(serial, _)| serial)
    }

    /// Rewrites index.xml from replgen.cuts and replgen.exports: the newest `--keep` packets,
    /// and every packet after the newest export whatever `--keep` says, so that a new or
    /// far-behind mirror can always import the export and follow.
    pub fn write_index(&mut self) -> Result<()> {
        let keep = self.opts.keep.max(1) as i64;
        let export = self
            .client
            .query_opt(
                "SELECT serial, path, created, bytes, sha256, schema_version, rows FROM replgen.exports \
                 ORDER BY serial DESC LIMIT 1",
                &[],
            )
            .context(|| "cannot read replgen.exports".into())?
            .map(|row| entry_from_row(&row));
        let after_export = export.as_ref().map_or(i64::MAX, |e| e.serial as i64);
        let rows = self
            .client
            .query(
                "SELECT serial, path, created, bytes, sha256, schema_version, rows FROM replgen.cuts \
                 WHERE serial > $2 OR serial >= (SELECT min(serial) FROM \
                     (SELECT serial FROM replgen.cuts ORDER BY serial DESC LIMIT $1) newest) \
                 ORDER BY serial",
                &[&keep, &after_export],
            )
            .context(|| "cannot read replgen.cuts".into())?;
        let packets: Vec<Entry> = rows.iter().map(entry_from_row).collect();
        if packets.len() as i64 > keep {
            if let Some(e) = export
                .as_ref()
                .filter(|e| self.warned_export != Some(e.serial))
            {
                self.warned_export = Some(e.serial);
                tracing::warn!(
                    listed = packets.len(),
                    keep,
                    export = e.serial,
                    "the index lists every packet since export {}, more than --keep {keep}: mirrors \
                     start from that export; a new `export` lets the older packets go",
                    e.serial
                );
            }
        }
        let index = Index {
            feed: Some(self.identity.clone()),
            published: Some(crate::timefmt::now()),
            packets,
            export,
        };
        self.feed.write_index(&index, &self.opts.sign_keys)?;
        if let Some(oldest) = index.packets.first() {
            self.forget_unlisted(oldest.serial)?;
        }
        Ok(())
    }

    /// Forgets the cuts older than the oldest packet the index lists (deleting their files
    /// first with `--delete-pruned`): nothing reads them again, so `replgen.cuts` stays as small
    /// as the index, and a file the tool deleted can never be missed by a later command.
    fn forget_unlisted(&mut self, oldest: u64) -> Result<()> {
        let oldest = oldest as i64;
        if self.opts.delete_pruned {
            let rows = self
                .client
                .query(
                    "SELECT path FROM replgen.cuts WHERE serial < $1",
                    &[&oldest],
                )
                .context(|| "cannot read replgen.cuts".into())?;
            for row in rows {
                self.feed.remove_file(&row.get::<_, String>(0))?;
            }
        }
        self.client
            .execute("DELETE FROM replgen.cuts WHERE serial < $1", &[&oldest])
            .context(|| "cannot prune replgen.cuts".into())?;
        Ok(())
    }

    /// Reclaims the log rows a cut deleted right away, so the logs stay small over weeks of
    /// cuts even where autovacuum is slow or off. VACUUM never blocks the writers.
    fn vacuum_logs(&mut self, tables: &[&'static TableDef]) -> Result<()> {
        for table in tables {
            self.client
                .batch_execute(&sql::for_table("vacuum_log", table))
                .context(|| format!("cannot vacuum the change log of {}", table.display_name()))?;
        }
        Ok(())
    }
}

fn entry_from_row(row: &postgres::Row) -> Entry {
    Entry {
        serial: row.get::<_, i64>(0) as u64,
        path: row.get(1),
        timestamp: row.get(2),
        size: row.get::<_, i64>(3) as u64,
        sha256: row.get(4),
        schema_version: row.get::<_, i32>(5) as u32,
        rows: row.get::<_, i64>(6) as u64,
    }
}

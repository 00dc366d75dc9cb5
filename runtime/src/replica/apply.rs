//! `apply`: reads the index, then downloads, verifies and applies each packet after the
//! replica's position in serial order, each with its new position in one transaction, so a kill
//! at any instant never applies a change twice or skips one.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use flate2::read::MultiGzDecoder;

use super::held::HeldRows;
use super::lines::{PacketLines, StagedLine};
use super::newest::{canonical_key, NewestFirst};
use super::{position, upgrade, Replica};
use crate::def::TableDef;
use crate::error::{describe_copy_write, describe_db, Context, Error, Result};
use crate::faults::crash_point;
use crate::index::Entry;
use crate::packet::PacketReader;
use crate::source::Source;
use crate::sql;
use postgres::Transaction;

/// What one `apply` run did.
#[derive(Debug, Clone, Default)]
pub struct ApplySummary {
    pub packets: u64,
    pub rows: u64,
    pub from: u64,
    pub to: u64,
    pub seconds: f64,
    /// The newest packet the index lists, and when it was cut.
    pub newest: Option<u64>,
    pub newest_created: Option<String>,
}

/// What the next packet must name: the feed the replica follows and the sha256 of the packet
/// it applied last (when known).
struct Chain {
    feed: Option<String>,
    last_sha256: Option<String>,
    /// The schema_version the replica's tables are in (`None` before its first packet).
    schema_version: Option<u32>,
}

impl Replica {
    /// A replica without a position starts at packet 1 only from empty tables: rows there came
    /// from elsewhere (a lost position, an import of another feed, a hand-made copy), and
    /// applying over them would leave the replica silently unlike the master.
    fn check_empty_without_position(&mut self, first: &Entry) -> Result<()> {
        let Some(layout) = self.schema.layout(first.schema_version) else {
            return Ok(()); // refused with its own message when the packet is read
        };
        for table in layout.tables {
            let exists: bool = self
                .client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&replgen_schema::capture::qualified_name(
                        table.schema,
                        table.name,
                    )],
                )
                .context(|| format!("cannot look for {}", table.display_name()))?
                .get(0);
            if !exists {
                continue;
            }
            let has_rows: bool = self
                .client
                .query_one(&sql::for_table("has_rows", table), &[])
                .context(|| format!("cannot read {}", table.display_name()))?
                .get(0);
            if has_rows {
                return Err(Error::RowsWithoutPosition {
                    table: table.display_name(),
                });
            }
        }
        Ok(())
    }

    /// Applies every packet the source lists after the replica's position, in serial order.
    /// `progress` is called after each packet with (applied so far, total pending).
    pub fn apply(
        &mut self,
        source: &Source,
        mut progress: impl FnMut(u64, u64, &Entry),
    ) -> Result<ApplySummary> {
        let started = Instant::now();
        let index = source.index()?;
        let position = self.position()?;
        let current = position.as_ref().map(|p| p.serial).unwrap_or(0);
        if let Some(p) = &position {
            self.layout_of(p.schema_version, &p.fingerprint, "the replica's position")?;
        }
        super::check_followed_feed(source, &index, position.as_ref())?;
        let feed = index.feed.as_ref().map(|f| f.id.clone());
        // What the next packet must name as its feed and its predecessor.
        let mut chain = Chain {
            feed,
            last_sha256: position.as_ref().and_then(|p| p.last_sha256.clone()),
            schema_version: position.as_ref().map(|p| p.schema_version),
        };
        let newest = index.newest_serial();
        let mut summary = ApplySummary {
            from: current,
            to: current,
            newest,
            newest_created: index.packets.last().map(|p| p.timestamp.clone()),
            ..Default::default()
        };
        match newest {
            None => return Ok(summary),
            Some(newest) if newest < current => {
                return Err(Error::FeedBehindReplica {
                    replica: current,
                    newest,
                })
            }
            _ => {}
        }
        let pending: Vec<&Entry> = index
            .packets
            .iter()
            .filter(|p| p.serial > current)
            .collect();
        if let Some(first) = pending.first() {
            if first.serial != current + 1 {
                return Err(Error::TooFarBehind {
                    replica: current,
                    oldest: first.serial,
                    has_position: position.is_some(),
                });
            }
        }
        if let (None, Some(first)) = (&position, pending.first()) {
            self.check_empty_without_position(first)?;
        }
        let total = pending.len() as u64;
        self.tally.start(pending.iter().map(|p| p.rows).sum());
        let mut done = 0usize;
        let mut record =
            |summary: &mut ApplySummary, done: &mut usize, entry: &Entry, rows: u64| {
                summary.packets += 1;
                summary.rows += rows;
                summary.to = entry.serial;
                *done += 1;
                progress(*done as u64, total, entry);
            };
        while done < pending.len() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let rest = &pending[done..];
            let n = batch_len(rest, &chain);
            if n > 1 {
                let mark = self.tally.mark();
                let mut how = Batch {
                    direct: true,
                    newest_first: true,
                };
                // Each way of staging the batch that failed is given up in turn (a refused
                // straight COPY, keys over the memory budget); both leave the replica unchanged.
                let result = loop {
                    let result = self.apply_batch(source, &rest[..n], &mut chain, how);
                    match &result {
                        Err(e) if how.direct && e.is_direct_copy_refused() => {
                            tracing::debug!("{e}; applying the batch again through the stage");
                            how.direct = false;
                        }
                        Err(e) if how.newest_first && e.is_batch_over_budget() => {
                            tracing::debug!("{e}; applying the batch again in packet order");
                            how.newest_first = false;
                        }
                        _ => break result,
                    }
                    self.tally.rewind(mark);
                };
                if !matches!(&result, Ok(applied) if !applied.is_empty()) {
                    self.tally.rewind(mark);
                }
                match result {
                    Ok(applied) if !applied.is_empty() => {
                        for (k, rows) in applied.into_iter().enumerate() {
                            record(&mut summary, &mut done, rest[k], rows);
                        }
                        continue;
                    }
                    Ok(_) => {}
                    // Packet by packet, the replica ends at the last good packet and the error
                    // names the bad one, as without batches.
                    Err(e) => {
                        tracing::debug!(
                            "packets {} to {} as one batch: {e}; applying them one by one",
                            rest[0].serial,
                            rest[n - 1].serial
                        );
                        for &entry in &rest[..n] {
                            if self.stop.load(Ordering::SeqCst) {
                                break;
                            }
                            let rows = self.apply_entry(source, entry, &mut chain)?;
                            record(&mut summary, &mut done, entry, rows);
                        }
                        continue;
                    }
                }
            }
            let entry = rest[0];
            let rows = self.apply_entry(source, entry, &mut chain)?;
            record(&mut summary, &mut done, entry, rows);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Downloads one packet, checks its size and sha256, then applies it in one transaction.
    /// A boundary packet's DDL waits for its locks at most `lock_timeout`; then the whole
    /// packet is tried again (a long query on the replica must not stall it forever, nor must
    /// the upgrade's locks queue every reader behind it).
    fn apply_entry(&mut self, source: &Source, entry: &Entry, chain: &mut Chain) -> Result<u64> {
        // A version this binary does not know is refused before anything is downloaded.
        if self.schema.layout(entry.schema_version).is_none() {
            return Err(Error::SchemaVersion {
                what: format!("packet {} ({})", entry.serial, entry.path),
                version: entry.schema_version,
                known: self.schema.known_versions(),
            });
        }
        let mut attempts = 0;
        let mut direct = true;
        let mark = self.tally.mark();
        loop {
            let file = source.fetch_verified(&entry.path, entry.size, &entry.sha256)?;
            match self.apply_file(file, entry, chain, direct) {
                Err(e) if e.is_direct_copy_refused() => {
                    tracing::debug!("{e}; applying the packet again through the stage");
                    self.tally.rewind(mark);
                    direct = false;
                }
                Err(e) if e.is_lock_timeout() && attempts < LOCK_ATTEMPTS => {
                    attempts += 1;
                    tracing::warn!(
                        "packet {}: {e}; trying again ({attempts} of {LOCK_ATTEMPTS})",
                        entry.serial
                    );
                    std::thread::sleep(std::time::Duration::from_millis(500 * attempts as u64));
                }
                result => return result,
            }
        }
    }

    /// Applies a verified packet (an open file, read from where it is): everything, with the
    /// new position, or nothing. `direct`: long runs of ADD lines may be copied straight into
    /// their tables (see [`Stage::direct`]).
    fn apply_file(
        &mut self,
        file: File,
        entry: &Entry,
        chain: &mut Chain,
        direct: bool,
    ) -> Result<u64> {
        let schema = self.schema;
        let reader = open_packet(file, entry, self.limits, READ_BUFFER)?;
        let header = reader.header().clone();
        check_header(
            entry,
            &header,
            chain.feed.as_deref(),
            chain.last_sha256.as_deref(),
        )?;
        let refuse = |reason: String| Error::PacketMismatch {
            serial: entry.serial,
            path: entry.path.clone(),
            reason,
        };
        let what = format!("packet {} ({})", entry.serial, entry.path);
        let layout = self.layout_of(header.schema_version, &header.fingerprint, &what)?;
        for &id in &header.reload {
            if layout.table(id).is_none() {
                return Err(refuse(format!(
                    "its header reloads table id {id}, which its layout does not have"
                )));
            }
        }

        // An upgrade's new enum labels are committed first (see `upgrade::add_enum_labels`); the
        // replica's version is checked again under the position's lock below.
        if let Some(at) = chain.schema_version.and_then(|v| schema.layout(v)) {
            if at.version < layout.version {
                upgrade::add_enum_labels(&mut self.client, at, layout)?;
            }
        }
        let mut tx = super::begin(&mut self.client, schema, self.mode)?;
        let locked = position::lock(&mut tx)?;
        let at = locked.as_ref().map_or(0, |l| l.serial);
        if at >= entry.serial {
            return Err(Error::AlreadyApplied {
                serial: entry.serial,
                path: entry.path.clone(),
                at,
            });
        }
        if at + 1 != entry.serial {
            return Err(Error::OutOfOrder {
                serial: entry.serial,
                path: entry.path.clone(),
                at,
            });
        }

        // The replica's tables are in the layout of its position (a replica without one starts
        // in the first packet's).
        let replica_layout = match &locked {
            Some(l) => super::layout_of(
                schema,
                l.schema_version,
                &l.fingerprint,
                "the replica's position",
            )?,
            None => layout,
        };
        if replica_layout.version > layout.version {
            return Err(Error::LayoutWentBack {
                what,
                version: layout.version,
                replica_version: replica_layout.version,
            });
        }
        let mut upgrade = None;
        let mut emptied: HashSet<u32> = HashSet::new();
        if replica_layout.version < layout.version {
            tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                .context(|| "cannot set lock_timeout".into())?;
            let done = upgrade::before_rows(
                &mut tx,
                replica_layout,
                layout,
                &header.reload,
                self.keep_dropped,
                &what,
            )?;
            emptied = done.emptied.clone();
            upgrade = Some(done);
        }
        // A reloaded table's rows replace all of its own.
        for &id in &header.reload {
            if !emptied.contains(&id) {
                let table = layout.table(id).expect("checked above");
                tx.batch_execute(&sql::for_table("reload_empty", table))
                    .context(|| format!("cannot empty {} for its reload", table.display_name()))?;
            }
        }

        let mut stage = Stage::new(direct, None, None);
        let mut reader = Some(reader);
        let mut lines = PacketLines::new(
            layout,
            &header.reload,
            vec![(entry, 0)],
            Box::new(move |_| Ok(reader.take().expect("one packet, read once"))),
        );
        let packet = format!("packet {}", entry.serial);
        stage_packets(&mut tx, &mut lines, &mut stage, &self.tally, &packet)?;
        let rows = lines.lines_of(0);
        crash_point("apply-staged");
        merge(
            &mut tx,
            &mut stage,
            false,
            &format!("packet {}", entry.serial),
        )?;
        if let Some(upgrade) = upgrade {
            upgrade::after_rows(&mut tx, upgrade)?;
            if let Some(dir) = &self.replica_sql {
                let versions = (replica_layout.version + 1..=layout.version)
                    .filter(|&v| schema.layout(v).is_some());
                for version in versions {
                    upgrade::run_replica_sql(&mut tx, dir, version)?;
                }
            }
        }
        commit_at(
            tx,
            entry,
            &header,
            chain,
            &format!("packet {}", entry.serial),
        )?;
        chain.last_sha256 = Some(entry.sha256.clone());
        chain.schema_version = Some(header.schema_version);
        Ok(rows)
    }
}

/// How a batch is staged (each is given up in turn when it fails, see [`Replica::apply`]).
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// Long runs of ADD lines may be copied straight into their tables (see [`Stage::direct`]).
    direct: bool,
    /// The packets are staged newest first, without the lines a newer one supersedes
    /// (`newest.rs`).
    newest_first: bool,
}

impl Replica {
    /// Applies consecutive packets of the replica's layout as one transaction: each is fetched
    /// and verified (size, sha256, header, chain, every value) and staged, then every table's
    /// stage is merged once, the newest version of each key winning, and the position becomes
    /// the last packet's. A kill at any instant leaves the replica before or after the whole
    /// batch, at a packet boundary either way. The batch ends early before a packet that must
    /// apply alone (a reload, another layout); an empty result means the first one must. Any
    /// error leaves the replica unchanged: the caller then applies the packets one by one.
    fn apply_batch(
        &mut self,
        source: &Source,
        entries: &[&Entry],
        chain: &mut Chain,
        how: Batch,
    ) -> Result<Vec<u64>> {
        let (schema, limits) = (self.schema, self.limits);
        let Some(layout) = chain.schema_version.and_then(|v| schema.layout(v)) else {
            return Ok(Vec::new());
        };
        let mut tx = super::begin(&mut self.client, schema, self.mode)?;
        match position::lock(&mut tx)? {
            Some(l)
                if l.serial + 1 == entries[0].serial
                    && l.schema_version == layout.version
                    && l.fingerprint == layout.fingerprint => {}
            _ => return Ok(Vec::new()),
        }
        // Every packet is fetched, verified and its header checked first, in serial order (the
        // chain of sha256s), so that the batch can be staged in either order.
        let mut last_sha256 = chain.last_sha256.clone();
        let mut fetched = Vec::new();
        for (seq, &entry) in entries.iter().enumerate() {
            // Asked to stop, the batch ends at the packet fetched last (a packet boundary).
            if seq > 0 && self.stop.load(Ordering::SeqCst) {
                break;
            }
            let file = source.fetch_verified(&entry.path, entry.size, &entry.sha256)?;
            let header = open_packet(reopen(&file, entry)?, entry, limits, HEADER_BUFFER)?
                .header()
                .clone();
            check_header(
                entry,
                &header,
                chain.feed.as_deref(),
                last_sha256.as_deref(),
            )?;
            if !header.reload.is_empty()
                || header.schema_version != layout.version
                || header.fingerprint != layout.fingerprint
            {
                break;
            }
            last_sha256 = Some(entry.sha256.clone());
            fetched.push((entry, file, header));
        }
        // Staged newest first, a run of new rows waits for the merge of the older lines: the
        // server is idle while the client reads the batch. A batch whose first and last packets
        // open with new rows only (a bulk load, an append-only table) has few lines to leave
        // out, so it is staged in packet order, its runs of new rows streaming straight into
        // their tables while the packets are read.
        let newest_first = how.newest_first
            && (crate::faults::batch_newest_first_forced()
                || !fetched
                    .first()
                    .into_iter()
                    .chain(fetched.last())
                    .all(|(entry, file, _)| opens_with_adds(file, entry, limits)));
        if how.newest_first && !newest_first {
            tracing::debug!(
                "packets {} to {}: staged in packet order, their first and last packets opening with new rows only",
                entries[0].serial,
                fetched.last().map_or(entries[0].serial, |(entry, ..)| entry.serial)
            );
        }
        let lines = fetched.iter().map(|(entry, ..)| entry.rows).sum();
        let newest =
            newest_first.then(|| NewestFirst::new(crate::faults::batch_key_budget(), lines));
        let held = match how.direct && newest_first {
            true => Some(
                HeldRows::new().context(|| format!("cannot create {}", crate::temp::describe()))?,
            ),
            false => None,
        };
        let mut stage = Stage::new(how.direct, newest, held);
        let order: Vec<u32> = match newest_first {
            true => (0..fetched.len() as u32).rev().collect(),
            false => (0..fetched.len() as u32).collect(),
        };
        let what = match (fetched.first(), fetched.last()) {
            (Some((first, ..)), Some((last, ..))) => {
                format!("packets {} to {}", first.serial, last.serial)
            }
            _ => return Ok(Vec::new()),
        };
        let mut lines = PacketLines::new(
            layout,
            &[],
            order
                .iter()
                .map(|&seq| (fetched[seq as usize].0, seq))
                .collect(),
            Box::new(|seq| {
                let (entry, file, _) = &fetched[seq as usize];
                open_packet(reopen(file, entry)?, entry, limits, READ_BUFFER)
            }),
        );
        stage_packets(&mut tx, &mut lines, &mut stage, &self.tally, &what)?;
        let applied: Vec<u64> = (0..fetched.len() as u32)
            .map(|seq| lines.lines_of(seq))
            .collect();
        drop(lines);
        let Some((entry, _, header)) = fetched.last() else {
            return Ok(applied);
        };
        crash_point("apply-staged");
        if let Some(newest) = &stage.newest {
            tracing::debug!(
                "{what}: staged newest packet first; {} lines left out, a newer packet's line of their key staged",
                newest.superseded
            );
        }
        merge(&mut tx, &mut stage, applied.len() > 1, &what)?;
        if let Some(held) = stage.held.take() {
            held.copy_into_tables(&mut tx, &what)?;
        }
        commit_at(tx, entry, header, chain, &what)?;
        chain.last_sha256 = last_sha256;
        Ok(applied)
    }
}

/// How many of a packet's first lines [`opens_with_adds`] reads.
const PEEK_LINES: usize = 10_000;

/// Whether the packet's first lines (at most [`PEEK_LINES`]) are all ADD lines; one that cannot
/// be read says no (staging it then says why).
fn opens_with_adds(file: &File, entry: &Entry, limits: crate::packet::Limits) -> bool {
    let Ok(mut reader) =
        reopen(file, entry).and_then(|f| open_packet(f, entry, limits, READ_BUFFER))
    else {
        return false;
    };
    for _ in 0..PEEK_LINES {
        let mut fields = Vec::new();
        match reader.next_line(&mut fields) {
            Ok(Some(line)) if line.op == crate::packet::Op::Add => {}
            Ok(None) => return true,
            _ => return false,
        }
    }
    true
}

/// A fetched packet's file, read again from its start.
fn reopen(file: &File, entry: &Entry) -> Result<File> {
    let mut file = file
        .try_clone()
        .context(|| format!("cannot read packet {} again", entry.serial))?;
    file.rewind()
        .context(|| format!("cannot read packet {} again", entry.serial))?;
    Ok(file)
}

/// Records `entry` (the last packet applied in `tx`) as the replica's position and commits.
fn commit_at(
    mut tx: Transaction,
    entry: &Entry,
    header: &crate::packet::PacketHeader,
    chain: &Chain,
    what: &str,
) -> Result<()> {
    // A format 1 packet names no feed: the replica keeps following the index's.
    let feed = (!header.feed.is_empty())
        .then(|| header.feed.clone())
        .or_else(|| chain.feed.clone());
    position::set(
        &mut tx,
        &position::Update {
            serial: entry.serial,
            schema_version: header.schema_version,
            fingerprint: &header.fingerprint,
            created: &header.created,
            feed: feed.as_deref(),
            last_sha256: Some(&entry.sha256),
            imported: false,
        },
    )?;
    crash_point("apply-before-commit");
    tx.commit().context(|| format!("cannot commit {what}"))?;
    crash_point("apply-after-commit");
    Ok(())
}

/// At most this many rows, bytes (compressed) and packets make one batch: the stages stay small
/// next to the replica's temp_buffers (a batch stages each key once, so its rows are fewer
/// still), one commit is never far off (`--follow` rarely has more than one packet pending
/// anyway), the client's memory is flat whatever the size, and the packets' files, open until
/// they are staged, stay well under any limit on open files.
const BATCH_ROWS: u64 = 500_000;
const BATCH_BYTES: u64 = 64 << 20;
const BATCH_PACKETS: usize = 256;

/// A table's stage of fewer rows is merged without ANALYZE (the planner's guess from its size
/// serves, and the statement costs more than it saves) and without the DELETE's new-keys check
/// (which then costs about what the DELETE does).
const BIG_STAGE_ROWS: u64 = 10_000;

/// How many of the pending packets to try as one batch: those of the replica's layout, within
/// the bounds (one packet past them goes alone).
fn batch_len(pending: &[&Entry], chain: &Chain) -> usize {
    let Some(version) = chain.schema_version else {
        return 1;
    };
    let (mut rows, mut bytes, mut n) = (0u64, 0u64, 0usize);
    for entry in pending.iter().take(batch_packets()) {
        let over = rows + entry.rows > BATCH_ROWS || bytes + entry.size > BATCH_BYTES;
        if entry.schema_version != version || (n > 0 && over) {
            break;
        }
        rows += entry.rows;
        bytes += entry.size;
        n += 1;
    }
    n.max(1)
}

/// At most [`BATCH_PACKETS`], and a quarter of the files the process may open (a container's
/// limit can be low): each packet of a batch stays open until it is staged.
fn batch_packets() -> usize {
    static PACKETS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PACKETS.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let open_files = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
            0 => usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX),
            _ => 1024,
        };
        (open_files / 4).clamp(1, BATCH_PACKETS)
    })
}

/// A table's run of lines at least this long is streamed through its own COPY; shorter runs
/// wait in memory, so a batch of many small packets stages each table with one COPY instead of
/// one per packet (each COPY costs round trips and a statement).
const STREAM_BYTES: usize = 64 << 10;

/// The waiting lines of all tables together stay under this, so the client's memory is flat.
const PENDING_BYTES: usize = 8 << 20;

/// The tables staged so far in this transaction, in first-staged order, with their row counts
/// and the lines waiting for their COPY.
struct Stage {
    order: Vec<Staged>,
    /// Bytes waiting in every table's `pending`.
    pending: usize,
    /// Whether a long run of ADD lines of a table with nothing staged yet may be copied
    /// straight into the table: the rows are then in before any later line of it is merged, in
    /// the packets' order (staged newest first, after every older line is merged: `held`), and
    /// a key the table already holds fails the COPY (the packets then run again without). For
    /// new rows this saves the stage's COPY and the merge's INSERT.
    direct: bool,
    /// A batch staged newest packet first: the keys staged so far, whose older lines are left
    /// out (a table whose key text is canonical then stages one row per key).
    newest: Option<NewestFirst>,
    /// Staged newest first, the rows bound straight for their tables wait here until the merge
    /// has run (`held.rs`).
    held: Option<HeldRows>,
}

struct Staged {
    table: &'static TableDef,
    /// Rows in the stage (or waiting for it); rows copied straight into the table are not.
    rows: u64,
    /// Staging lines not yet copied.
    pending: Vec<u8>,
    /// Whether the table may take rows straight (`direct_copy.sql.jinja`), once asked.
    direct: Option<bool>,
}

impl Staged {
    /// Whether the run whose first lines wait in `pending` may go straight into the table;
    /// `what` names the packets.
    fn direct(&mut self, tx: &mut Transaction, allowed: bool, what: &str) -> Result<bool> {
        if !allowed || self.rows > 0 || !self.pending.split(|&b| b == b'\n').all(is_add) {
            return Ok(false);
        }
        if let Some(direct) = self.direct {
            return Ok(direct);
        }
        // Whatever goes wrong here (the transaction is then aborted), the stage can still take
        // the rows: the packets run again without.
        let answer = tx
            .simple_query(&sql::for_table("direct_copy", self.table))
            .map_err(|e| Error::DirectCopyRefused {
                what: what.to_string(),
                table: self.table.display_name(),
                reason: describe_db(&e),
            })?;
        let direct = answer.iter().any(
            |m| matches!(m, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t")),
        );
        self.direct = Some(direct);
        Ok(direct)
    }
}

/// Whether a staging line (`seq <tab> op <tab> columns`) is an ADD; an empty one (after the
/// last newline) counts as one.
fn is_add(line: &[u8]) -> bool {
    line.is_empty() || memchr::memchr(b'\t', line).and_then(|i| line.get(i + 1)) == Some(&b'0')
}

/// A staging line's columns, as COPY into the table reads them.
fn columns_of(line: &[u8]) -> &[u8] {
    let second = memchr::memchr_iter(b'\t', line).nth(1);
    &line[second.map_or(line.len(), |i| i + 1)..]
}

impl Stage {
    fn new(direct: bool, newest: Option<NewestFirst>, held: Option<HeldRows>) -> Stage {
        Stage {
            order: Vec::new(),
            pending: 0,
            direct,
            newest,
            held,
        }
    }

    /// Copies every table's waiting lines into its stage (one COPY each); `what` names the
    /// packets.
    fn flush(&mut self, tx: &mut Transaction, what: &str) -> Result<()> {
        for staged in &mut self.order {
            if !staged.pending.is_empty() {
                copy_lines(tx, staged.table, &staged.pending, what)?;
                staged.pending.clear();
            }
        }
        self.pending = 0;
        Ok(())
    }
}

/// One COPY of `lines` into `table`'s stage.
fn copy_lines(tx: &mut Transaction, table: &TableDef, lines: &[u8], what: &str) -> Result<()> {
    let mut writer = tx
        .copy_in(&sql::for_table("stage_copy", table))
        .context(|| format!("cannot stage the rows of {}", table.display_name()))?;
    writer.write_all(lines).map_err(|e| Error::RowRefused {
        what: what.to_string(),
        reason: describe_copy_write(&e),
    })?;
    writer.finish().map_err(|source| Error::Db {
        context: format!("{what}: cannot stage the rows of {}", table.display_name()),
        source,
    })?;
    Ok(())
}

/// How much packet text is decompressed at a time, to read the lines / only the header (which
/// is then all that is decompressed).
const READ_BUFFER: usize = 1 << 20;
const HEADER_BUFFER: usize = 8 << 10;

/// Opens a fetched packet and reads its header, decompressing `buffer` bytes at a time.
fn open_packet(
    file: File,
    entry: &Entry,
    limits: crate::packet::Limits,
    buffer: usize,
) -> Result<PacketReader<BufReader<MultiGzDecoder<BufReader<File>>>>> {
    let gz = BufReader::with_capacity(buffer, MultiGzDecoder::new(BufReader::new(file)));
    PacketReader::new(gz, limits).map_err(|source| Error::Packet {
        serial: entry.serial,
        path: entry.path.clone(),
        source,
    })
}

/// What a packet's header must say: the index's serial, its predecessor, the feed, and the
/// sha256 of the packet applied before it (`last_sha256`, when known).
fn check_header(
    entry: &Entry,
    header: &crate::packet::PacketHeader,
    feed: Option<&str>,
    last_sha256: Option<&str>,
) -> Result<()> {
    let refuse = |reason: String| Error::PacketMismatch {
        serial: entry.serial,
        path: entry.path.clone(),
        reason,
    };
    if header.serial != entry.serial {
        return Err(refuse(format!(
            "its header says serial {}, but the index lists it as {}",
            header.serial, entry.serial
        )));
    }
    // The reader refuses a header whose previous is not below its serial (no overflow).
    if header.previous != header.serial - 1 {
        return Err(refuse(format!(
            "its header says it follows packet {}, not {}",
            header.previous,
            header.serial - 1
        )));
    }
    if let Some(feed) = feed {
        if !header.feed.is_empty() && header.feed != feed {
            return Err(refuse(format!(
                "its header names feed {}, but the index is feed {feed}",
                header.feed
            )));
        }
    }
    if let (Some(named), Some(applied)) = (header.previous_sha256.as_deref(), last_sha256) {
        if named != applied {
            return Err(refuse(format!(
                    "it follows a packet {} with sha256 {named}, but the replica applied packet {} with sha256 \
                     {applied}: the feed re-cut a serial with other contents; import the latest export",
                    header.previous, header.previous
                )));
        }
    }
    Ok(())
}

/// Stages every line of a transaction's packets, checking each value: one COPY per run of
/// lines of one table, across packets; statements run only between COPYs. `what` names the
/// packets.
fn stage_packets<R: BufRead>(
    tx: &mut Transaction,
    lines: &mut PacketLines<R>,
    stage: &mut Stage,
    tally: &crate::tally::Tally,
    what: &str,
) -> Result<()> {
    let mut line_buf: Vec<u8> = Vec::with_capacity(4096);
    let mut newest = stage.newest.take();
    let mut read = |line_buf: &mut Vec<u8>| lines.next(line_buf, newest.as_mut(), tally);
    let mut next = read(&mut line_buf)?;
    while let Some(StagedLine { table, .. }) = next {
        let at = match stage.order.iter().position(|s| s.table.id == table.id) {
            Some(at) => at,
            None => {
                prepare_stage(tx, table)?;
                stage.order.push(Staged {
                    table,
                    rows: 0,
                    pending: Vec::new(),
                    direct: None,
                });
                stage.order.len() - 1
            }
        };
        // The run waits in memory until it is long enough to stream through a COPY of its own
        // (the table's earlier waiting lines first).
        let staged = &mut stage.order[at];
        let before = staged.pending.len();
        let mut run = 0u64;
        let more = |next: Option<StagedLine>| next.map(|r| r.table.id) == Some(table.id);
        loop {
            staged.pending.extend_from_slice(&line_buf);
            run += 1;
            tally.add(1, line_buf.len() as u64);
            next = read(&mut line_buf)?;
            if !more(next) || staged.pending.len() >= STREAM_BYTES {
                break;
            }
        }
        // Rows copied straight into the table (a run of ADD lines, while none of the table's
        // rows is staged), or held to be after the merge, then the rest of the run into the
        // stage.
        let mut direct = 0u64;
        if more(next) && staged.direct(tx, stage.direct, what)? {
            let name = table.display_name();
            let refused = |reason: String| Error::DirectCopyRefused {
                what: what.to_string(),
                table: name.clone(),
                reason,
            };
            let mut straight = match stage.held.as_mut() {
                Some(held) => Straight::Held(held),
                None => Straight::Copy(
                    tx.copy_in(&sql::for_table("import_copy", table))
                        .map_err(|e| refused(describe_db(&e)))?,
                ),
            };
            // The waiting lines may be of several packets: each says its own.
            for line in staged.pending.split_inclusive(|&b| b == b'\n') {
                straight
                    .write(table, seq_of(line), columns_of(line))
                    .map_err(|e| refused(describe_copy_write(&e)))?;
            }
            direct = run;
            staged.pending.clear();
            while let Some(StagedLine { seq, .. }) = next {
                if !more(next) || !is_add(&line_buf) {
                    break;
                }
                straight
                    .write(table, seq, columns_of(&line_buf))
                    .map_err(|e| refused(describe_copy_write(&e)))?;
                run += 1;
                direct += 1;
                tally.add(1, line_buf.len() as u64);
                next = read(&mut line_buf)?;
            }
            if let Straight::Copy(writer) = straight {
                writer.finish().map_err(|e| refused(describe_db(&e)))?;
                tracing::debug!("{what}: {direct} rows copied straight into {name}");
            }
        }
        if more(next) {
            let refused = |e: std::io::Error| Error::RowRefused {
                what: what.to_string(),
                reason: describe_copy_write(&e),
            };
            let mut writer = tx
                .copy_in(&sql::for_table("stage_copy", table))
                .context(|| format!("cannot stage the rows of {}", table.display_name()))?;
            writer.write_all(&staged.pending).map_err(refused)?;
            stage.pending -= before;
            staged.pending.clear();
            while more(next) {
                writer.write_all(&line_buf).map_err(refused)?;
                run += 1;
                tally.add(1, line_buf.len() as u64);
                next = read(&mut line_buf)?;
            }
            writer.finish().map_err(|source| Error::Db {
                context: format!("{what}: cannot stage the rows of {}", table.display_name()),
                source,
            })?;
        } else {
            stage.pending += staged.pending.len() - before;
        }
        staged.rows += run - direct;
        if stage.pending >= PENDING_BYTES {
            stage.flush(tx, what)?;
        }
    }
    stage.newest = newest;
    Ok(())
}

/// The `seq` a staging line (`seq <tab> op <tab> columns`) starts with.
fn seq_of(line: &[u8]) -> u32 {
    let end = memchr::memchr(b'\t', line).unwrap_or(line.len());
    std::str::from_utf8(&line[..end])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a staging line starts with its seq")
}

/// Where a run of ADD lines goes straight: a COPY into the table, or held for after the merge.
enum Straight<'a> {
    Copy(postgres::CopyInWriter<'a>),
    Held(&'a mut HeldRows),
}

impl Straight<'_> {
    /// One row: its columns' COPY text, one line.
    fn write(&mut self, table: &'static TableDef, seq: u32, columns: &[u8]) -> std::io::Result<()> {
        match self {
            Straight::Copy(writer) => writer.write_all(columns),
            Straight::Held(held) => held.hold(table, seq, columns),
        }
    }
}

/// A staging table past this size is emptied with TRUNCATE, a smaller one with DELETE.
const STAGE_TRUNCATE_BYTES: i64 = 8 << 20;

/// Makes `table`'s staging table where it is missing or no longer has the table's shape, and
/// empties it otherwise (public for the benchmarks, which time the merge the way apply runs it).
pub fn prepare_stage(tx: &mut Transaction, table: &'static TableDef) -> Result<()> {
    let cannot = || format!("cannot prepare staging for {}", table.display_name());
    let state = tx
        .query_one(&sql::for_table("stage_state", table), &[])
        .context(cannot)?;
    let (current, bytes): (bool, i64) = (state.get(0), state.get(1));
    let statements = sql::for_table_with(
        "stage",
        table,
        minijinja::context! { make => !current, truncate => bytes > STAGE_TRUNCATE_BYTES },
    );
    tx.batch_execute(&statements).context(cannot)
}

/// Merges every staged table into its own, in first-staged order; `what` names the packets.
fn merge(tx: &mut Transaction, stage: &mut Stage, batched: bool, what: &str) -> Result<()> {
    stage.flush(tx, what)?;
    let one_per_key = stage.newest.is_some();
    for &Staged { table, rows, .. } in &stage.order {
        if rows == 0 {
            // Every row went straight into the table.
            continue;
        }
        let big = rows >= BIG_STAGE_ROWS;
        let how = sql::Merge {
            analyze: big,
            skip_new_keys: big,
            // Staged newest first, a canonical key's rows are one per key already.
            batched: batched && !(one_per_key && canonical_key(table)),
            // Measured slower than DELETE + INSERT (bench section 9), so never chosen here.
            in_place: false,
        };
        tx.batch_execute(&sql::merge(table, how))
            .map_err(|source| Error::Db {
                context: format!("{what}: cannot apply the rows of {}", table.display_name()),
                source,
            })?;
    }
    Ok(())
}

/// How long a boundary packet's DDL waits for a lock before the packet is tried again, and how
/// many times.
const LOCK_TIMEOUT: &str = "10s";
const LOCK_ATTEMPTS: u32 = 5;

#[cfg(test)]
mod tests {
    use super::{columns_of, is_add};

    #[test]
    fn a_staging_line_says_its_operation_and_gives_its_columns_to_copy() {
        assert!(is_add(b"3\t0\t7\tname\n"));
        assert!(is_add(b""));
        assert!(!is_add(b"3\t1\t7\tname\n"));
        assert!(!is_add(b"3\t2\t7\t\\N\n"));
        assert_eq!(
            columns_of(b"12\t0\t7\tname\twith\\ttab\n"),
            b"7\tname\twith\\ttab\n"
        );
        assert_eq!(columns_of(b"0\t0\t\\N\n"), b"\\N\n");
    }
}

//! Cutting a packet: every committed change not yet dumped, read and consumed in one
//! snapshot, written durably under a temporary name, recorded, committed, then published. See
//! docs/design.md ("Cuts") for why no change is lost or dumped twice.

use std::fs;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

use postgres::{IsolationLevel, Transaction};

use super::{DumpOptions, Master};
use crate::db::{self, LOCK_CUT};
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::faults::crash_point;
use crate::feed::parallel_gz::ParallelGzFile;
use crate::feed::Feed;
use crate::index::{Entry, FeedInfo};
use crate::packet::{self, Limits, PacketHeader, MAX_SERIAL};
use crate::sql;

/// What one cut published.
#[derive(Debug, Clone)]
pub struct CutSummary {
    pub serial: u64,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub path: String,
}

/// A cut whose packet is written and recorded in the (uncommitted) transaction, not yet published.
pub(super) struct PreparedCut {
    pub entry: Entry,
    tmp: PathBuf,
    /// The tables whose change logs the cut consumed.
    consumed: Vec<&'static TableDef>,
}

impl Master {
    /// Cuts one packet of every committed change not yet dumped; `None` when there were none.
    pub fn cut(&mut self) -> Result<Option<CutSummary>> {
        let started = Instant::now();
        db::lock(&mut self.client, LOCK_CUT)?;
        let result = last_cut(&mut self.client)
            .and_then(|(last, _)| self.check_folder(last))
            .and_then(|()| self.retry_on_upgrade(Master::cut_locked));
        let unlock = db::unlock(&mut self.client, LOCK_CUT);
        let prepared = result?;
        unlock?;
        let Some(entry) = prepared else {
            return Ok(None);
        };
        Ok(Some(CutSummary {
            serial: entry.serial,
            rows: entry.rows,
            bytes: entry.size,
            seconds: started.elapsed().as_secs_f64(),
            path: entry.path,
        }))
    }

    /// Runs `step` with the installed capture's layout; once more when the capture was upgraded
    /// between reading that layout and the step's locks (the step then changed nothing).
    pub(super) fn retry_on_upgrade<T>(
        &mut self,
        mut step: impl FnMut(&mut Master) -> Result<T>,
    ) -> Result<T> {
        // `self.schema` is the layout read at connect or by the last retry; the step checks it
        // against replgen.meta after its locks, so reading it again here each time is not needed.
        let mut attempts = 0;
        loop {
            let result = step(self);
            match &result {
                Err(Error::CaptureChanged) => {}
                // A replicated table is gone: dropped by the application's migration for a
                // capture installed since (then cut with that), or not (then the failed lock
                // ended the transaction, and the live tables are checked outside it, to name
                // that table and every other difference from the layout).
                Err(e) if e.is_undefined_table() => {
                    let installed =
                        super::capture::installed_layout(&mut self.client, self.binary)?;
                    if std::ptr::eq(installed, self.schema) {
                        super::live_tables::check_master(&mut self.client, self.schema)?;
                        return result;
                    }
                }
                _ => return result,
            }
            if attempts >= 3 {
                return result;
            }
            attempts += 1;
            self.schema = super::capture::installed_layout(&mut self.client, self.binary)?;
        }
    }

    fn cut_locked(&mut self) -> Result<Option<Entry>> {
        let (schema, opts) = (self.schema, self.opts.clone());
        // The snapshot is taken by the transaction's first query, after the cut lock is held,
        // so it sees every cut committed before it.
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .context(|| "cannot begin the cut".into())?;
        let prepared = prepare_cut(
            &mut tx,
            self.binary,
            schema,
            &opts,
            &self.feed,
            &self.identity,
        )?;
        if prepared.is_some() {
            crash_point("dump-before-commit");
        }
        tx.commit().context(|| "cannot commit the cut".into())?;
        let Some(prepared) = prepared else {
            return Ok(None);
        };
        self.published = true;
        crash_point("dump-after-commit");
        let entry = prepared.entry.clone();
        let consumed = prepared.consumed.clone();
        publish_cut(&self.feed, prepared)?;
        crash_point("dump-after-publish");
        self.write_index()?;
        if opts.vacuum {
            self.vacuum_logs(&consumed)?;
        }
        Ok(Some(entry))
    }
}

/// Inside the cut's REPEATABLE READ transaction: writes the packet of everything the snapshot
/// sees in the change logs, deletes exactly those log rows and records the cut. Returns `None`
/// (and changes nothing) when there is nothing to cut.
pub(super) fn prepare_cut(
    tx: &mut Transaction,
    binary: &'static SchemaDef,
    schema: &'static SchemaDef,
    opts: &DumpOptions,
    feed: &Feed,
    identity: &FeedInfo,
) -> Result<Option<PreparedCut>> {
    // Must be the transaction's first statement: the snapshot is taken by the next one.
    lock_tables(tx, schema)?;
    // Locked, the tables cannot change shape until the cut ends, nor their capture be replaced.
    if !std::ptr::eq(super::capture::installed_layout(tx, binary)?, schema) {
        return Err(Error::CaptureChanged);
    }
    super::live_tables::check_master(tx, schema)?;
    // Every table and partition still captured; partitions attached or detached logged.
    super::partitions::check(tx, schema)?;
    let pending: Vec<&'static TableDef> = tx
        .query(&sql::for_tables("pending", schema.tables), &[])
        .context(|| "cannot read the change logs".into())?
        .iter()
        .filter_map(|row| schema.table(row.get::<_, i32>(0) as u32))
        .collect();
    // The first cut of an upgraded capture publishes the boundary packet, changes or not.
    let boundary = super::boundary::published_layout(tx, binary, schema)?;
    let mut reload = match boundary {
        Some(from) => super::boundary::reloads(tx, from, schema)?,
        None => Vec::new(),
    };
    reload.extend(super::boundary::resync_tables(schema, &opts.resync)?);
    reload.sort_by_key(|t| t.id);
    reload.dedup_by_key(|t| t.id);
    super::live_tables::check_same_columns(tx, schema, &reload)?;
    if pending.is_empty() && boundary.is_none() && reload.is_empty() && !opts.empty_packets {
        return Ok(None);
    }
    let (last, previous_sha256) = last_cut(tx)?;
    if last >= MAX_SERIAL {
        return Err(Error::OutOfRange {
            what: "the next packet serial".into(),
            value: last,
            max: MAX_SERIAL - 1,
        });
    }
    let serial = last + 1;
    let created = db::now_utc(tx)?;
    let header = PacketHeader {
        serial,
        previous: serial - 1,
        feed: identity.id.clone(),
        previous_sha256,
        schema_version: schema.version,
        fingerprint: schema.fingerprint.to_string(),
        created: created.clone(),
        reload: reload.iter().map(|t| t.id).collect(),
    };
    feed.prepare_tmp()?;
    let tmp = feed.packet_tmp(serial);
    let (sha256, size, rows) = write_packet(tx, &pending, &reload, &header, &tmp, opts.compression)
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
    for table in &pending {
        tx.batch_execute(&sql::for_table("consume_log", table))
            .context(|| format!("cannot consume the change log of {}", table.display_name()))?;
    }
    let path = packet::packet_path(serial, &created);
    tx.execute(
        "INSERT INTO replgen.cuts (serial, created, path, bytes, sha256, rows, schema_version, fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &(serial as i64),
            &created,
            &path,
            &(size as i64),
            &sha256,
            &(rows as i64),
            &(schema.version as i32),
            &schema.fingerprint,
        ],
    )
    .context(|| "cannot record the cut".into())?;
    // In object storage the packet goes up under its final name before the commit.
    feed.stage(&tmp, &path)?;
    let entry = Entry {
        serial,
        path,
        timestamp: created,
        size,
        sha256,
        schema_version: schema.version,
        rows,
    };
    Ok(Some(PreparedCut {
        entry,
        tmp,
        consumed: pending,
    }))
}

/// Locks every replicated table against TRUNCATE, DROP and ALTER until the cut ends. (A table
/// that does not exist fails here; [`Master::retry_on_upgrade`] then names every difference.)
fn lock_tables(tx: &mut Transaction, schema: &'static SchemaDef) -> Result<()> {
    tx.batch_execute(&sql::for_tables("lock_tables", schema.tables))
        .context(|| "cannot lock the replicated tables for the cut".into())
}

/// After the cut committed: gives the packet its final name.
pub(super) fn publish_cut(feed: &Feed, cut: PreparedCut) -> Result<()> {
    feed.publish(&cut.tmp, &cut.entry.path)
}

/// The newest serial the master has cut (0 before the first; a new feed continues after the
/// old feed's last), and that packet's sha256 when this feed published it.
pub(super) fn last_cut(client: &mut impl postgres::GenericClient) -> Result<(u64, Option<String>)> {
    let row = client
        .query_one(&sql::plain("last_cut"), &[])
        .context(|| "cannot read replgen.cuts".into())?;
    Ok((row.get::<_, i64>(0) as u64, row.get(1)))
}

/// Streams every pending table's changed rows, and every row of the tables it reloads, through
/// gzip into `tmp`, durable on return.
fn write_packet(
    tx: &mut Transaction,
    pending: &[&'static TableDef],
    reload: &[&'static TableDef],
    header: &PacketHeader,
    tmp: &std::path::Path,
    level: u32,
) -> Result<(String, u64, u64)> {
    let io_ctx = || format!("cannot write {}", tmp.display());
    let mut gz = ParallelGzFile::create(tmp, level).context(io_ctx)?;
    header.write_to(&mut gz).context(io_ctx)?;
    let mut rows = 0u64;
    // The dump query sorts and hashes every changed key; JIT only adds start-up time to it.
    tx.batch_execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        .context(|| "cannot set the cut's planner settings".into())?;
    let mut tables: Vec<&'static TableDef> = pending.iter().chain(reload).copied().collect();
    tables.sort_by_key(|t| t.id);
    tables.dedup_by_key(|t| t.id);
    // Every reloaded row's timestamp: the transaction's now(), read once.
    let reload_ts = if reload.is_empty() {
        None
    } else {
        Some(now_text(tx)?)
    };
    for table in tables {
        // A reloaded table's rows replace its changes: its log is consumed all the same.
        let (query, ts) = if reload.iter().any(|r| r.id == table.id) {
            (sql::for_table("reload_table", table), reload_ts.clone())
        } else {
            let plan = plan_dump(tx, table)?;
            (
                sql::dump_table(table, plan.distinct, plan.ts.is_none()),
                plan.ts,
            )
        };
        let reader = tx
            .copy_out(&query)
            .context(|| format!("cannot read the changed rows of {}", table.display_name()))?;
        // The reader is itself buffered, one server message (one row) at a time: a BufReader
        // around it would only copy every line once more.
        rows += copy_lines(reader, table, ts.as_deref(), &mut gz)?;
    }
    crash_point("dump-mid-packet");
    packet::write_trailer(&mut gz, rows).context(io_ctx)?;
    let (sha256, size) = gz.finish().context(io_ctx)?;
    Ok((sha256, size, rows))
}

/// What [`plan_dump`] learned of a table's change log.
struct DumpPlan {
    /// Every logged key is provably distinct (dump_plan.sql.jinja says why), so the dump query
    /// need not group them: 1M keys of one statement are then not sorted twice.
    distinct: bool,
    /// Every logged key's timestamp, when they all have the same one (as one statement's do),
    /// as the server formats it; the dumper writes it into each line instead of the query.
    ts: Option<String>,
}

/// Tells the planner how to join a table's changed keys to its rows: probing the primary key
/// per key while the keys are few next to the table, one pass over the table otherwise (at 1M
/// changed keys of a 1M-row table that is 3.1 s instead of 6.2 s). That pass is a merge join
/// along the primary key when the heap follows the key's order (the sort that groups the keys
/// feeds it, and no hash table of every key is built: 1.2 s instead of 1.7 s for 1M narrow
/// rows), a hash join otherwise (an index scan in key order would then read the heap at random).
fn plan_dump(tx: &mut Transaction, table: &TableDef) -> Result<DumpPlan> {
    let first_key = table.columns[table.key[0]].name;
    let row = tx
        .query_one(
            &sql::for_table("dump_plan", table),
            &[&table.schema, &table.name, &first_key],
        )
        .context(|| format!("cannot size the change log of {}", table.display_name()))?;
    let (keys, table_rows, correlation, distinct, ts): (
        i64,
        i64,
        Option<f64>,
        bool,
        Option<String>,
    ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let many = keys > 10_000 && (table_rows < 0 || keys.saturating_mul(20) > table_rows);
    let in_order = correlation.is_some_and(|c| c >= 0.9);
    // The sort of the keys fits in memory up to 2M keys (about 90 bytes each); beyond that it
    // spills, still bounded.
    let work_mem_kb = (keys.saturating_mul(90) / 1024).clamp(64 << 10, 192 << 10);
    let on = |b: bool| if b { "on" } else { "off" };
    let work_mem = format!("{}kB", if many { work_mem_kb } else { 64 << 10 });
    tx.execute(
        "SELECT pg_catalog.set_config('enable_nestloop', $1, true), \
                pg_catalog.set_config('enable_hashjoin', $2, true), \
                pg_catalog.set_config('work_mem', $3, true)",
        &[&on(!many), &on(!(many && in_order)), &work_mem],
    )
    .context(|| "cannot set the cut's planner settings".into())?;
    Ok(DumpPlan { distinct, ts })
}

/// The transaction's `now()` as the server formats a timestamptz: a reload's every line's.
fn now_text(tx: &mut Transaction) -> Result<String> {
    let row = tx
        .query_one("SELECT pg_catalog.now()::text", &[])
        .context(|| "cannot read the server's time".into())?;
    Ok(row.get(0))
}

/// Rewrites the dump query's lines (`rowid, [ts,] op, every column, [every key column]`, see
/// dump_table.sql.jinja) into packet lines: the table id first, the timestamp `ts` when the
/// query left it out; ADD/UPDATE keep the columns, REMOVE keeps only the key (a one-column key
/// is the rowid). A line beyond what replicas accept ([`Limits::DEFAULT`]) is refused here, so
/// the feed never carries a packet every replica would then fail on forever; the cut rolls back
/// and keeps its changes.
fn copy_lines(
    mut input: impl BufRead,
    table: &TableDef,
    ts: Option<&str>,
    out: &mut impl Write,
) -> Result<u64> {
    let io_err = |source| Error::Io {
        context: format!("while dumping {}", table.display_name()),
        source,
    };
    let malformed = || {
        io_err(std::io::Error::other(
            "the dump query returned a malformed line",
        ))
    };
    let max_line = Limits::DEFAULT.max_line.min(Limits::DEFAULT.max_field);
    let columns = table.columns.len();
    let keys = table.key.len();
    let id = format!("{}\t", table.id);
    let ts = ts.map(|ts| format!("{ts}\t"));
    let mut line = Vec::with_capacity(4096);
    let mut rows = 0;
    loop {
        line.clear();
        // A server error mid-COPY arrives wrapped in the reader's I/O error: say what it is.
        let read = input.read_until(b'\n', &mut line).map_err(|e| {
            io_err(std::io::Error::new(
                e.kind(),
                crate::error::describe_copy_write(&e),
            ))
        });
        if read? == 0 {
            return Ok(rows);
        }
        rows += 1;
        if line.last() != Some(&b'\n') {
            return Err(malformed());
        }
        let body = &line[..line.len() - 1];
        let mut tabs = memchr::memchr_iter(b'\t', body);
        let rowid_end = tabs.next().ok_or_else(malformed)?;
        // Before op: the rowid, and the timestamp unless given.
        let op_start = if ts.is_none() {
            tabs.next().ok_or_else(malformed)? + 1
        } else {
            rowid_end + 1
        };
        // `op` is one digit; the values begin after its tab.
        let values_start = op_start + 2;
        if tabs.next() != Some(op_start + 1) {
            return Err(malformed());
        }
        let remove = body[op_start] == b'2';
        // The values end where the key columns begin (at the line's end for a one-column key).
        let values_end = if keys > 1 {
            tabs.nth(columns - 1).ok_or_else(malformed)?
        } else {
            body.len()
        };
        if tabs.count() != if keys > 1 { keys - 1 } else { columns - 1 } {
            return Err(malformed());
        }
        let rowid = &body[..rowid_end];
        let key = if keys > 1 {
            &body[values_end + 1..]
        } else {
            rowid
        };
        let head = &body[..values_start];
        let tail = if remove {
            key
        } else {
            &body[values_start..values_end]
        };
        // The packet line's length without its newline.
        let len = id.len() + ts.as_ref().map_or(0, String::len) + head.len() + tail.len();
        if len > max_line {
            return Err(Error::RowTooLarge {
                table: table.display_name(),
                key: String::from_utf8_lossy(&rowid[..rowid.len().min(200)]).into_owned(),
                bytes: len as u64,
                limit: max_line as u64,
            });
        }
        let written = match &ts {
            // `head` is `rowid\t[ts\t]op\t`: the given timestamp goes after the rowid.
            Some(ts) => out.write_all(id.as_bytes()).and_then(|()| {
                out.write_all(&head[..rowid_end + 1])?;
                out.write_all(ts.as_bytes())?;
                out.write_all(&head[rowid_end + 1..])
            }),
            None => out
                .write_all(id.as_bytes())
                .and_then(|()| out.write_all(head)),
        }
        .and_then(|()| out.write_all(tail))
        .and_then(|()| out.write_all(b"\n"));
        written.map_err(io_err)?;
    }
}

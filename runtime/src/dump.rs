//! The dumper: cuts every committed change not yet dumped into one packet, publishes it and
//! rewrites the index. See docs/design.md ("Cuts") for why no change is lost or dumped twice.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use postgres::{Client, IsolationLevel, Transaction};

use crate::db::{self, LOCK_CUT, LOCK_DUMPER};
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::fsutil::{self, GzFile};
use crate::index::{Entry, Index};
use crate::packet::{self, PacketHeader};
use crate::sql;

/// Where unfinished files wait; nothing in it ends in `.gz` or is ever listed.
pub const TMP_DIR: &str = ".replgen-tmp";

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
        }
    }
}

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
pub(crate) struct PreparedCut {
    pub entry: Entry,
    tmp: PathBuf,
    /// The tables whose change logs the cut consumed.
    consumed: Vec<&'static TableDef>,
}

/// A connection to the master that owns the right to cut (the dumper lock).
pub struct Master {
    pub(crate) client: Client,
    pub(crate) schema: &'static SchemaDef,
    pub(crate) opts: DumpOptions,
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
        check_capture(&mut client, schema)?;
        client
            .batch_execute(&sql::plain("state"))
            .context(|| "cannot create replgen's state tables".into())?;
        if exclusive && !db::try_lock_patiently(&mut client, LOCK_DUMPER)? {
            return Err(Error::Busy(
                "another dumper is running against this database; only one may cut packets at a time".into(),
            ));
        }
        fsutil::create_dirs(&opts.out)
            .context(|| format!("cannot create {}", opts.out.display()))?;
        let mut master = Master {
            client,
            schema,
            opts,
        };
        master.recover()?;
        Ok(master)
    }

    /// Cuts one packet of every committed change not yet dumped; `None` when there were none.
    pub fn cut(&mut self) -> Result<Option<CutSummary>> {
        let started = Instant::now();
        db::lock(&mut self.client, LOCK_CUT)?;
        let result = self.cut_locked();
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
        let prepared = prepare_cut(&mut tx, schema, &opts)?;
        if prepared.is_some() {
            crate::faults::crash_point("dump-before-commit");
        }
        tx.commit().context(|| "cannot commit the cut".into())?;
        let Some(prepared) = prepared else {
            return Ok(None);
        };
        crate::faults::crash_point("dump-after-commit");
        let entry = prepared.entry.clone();
        let consumed = prepared.consumed.clone();
        publish_cut(&opts.out, prepared)?;
        crate::faults::crash_point("dump-after-publish");
        self.write_index()?;
        if opts.vacuum {
            self.vacuum_logs(&consumed)?;
        }
        Ok(Some(entry))
    }

    /// Reclaims the log rows a cut deleted right away, so the logs stay small over weeks of
    /// cuts even where autovacuum is slow or off. VACUUM never blocks the writers.
    fn vacuum_logs(&mut self, tables: &[&'static TableDef]) -> Result<()> {
        for table in tables {
            let log = format!("replgen.{}", sql::quote_ident(&format!("log_{}", table.id)));
            self.client
                .batch_execute(&format!("VACUUM {log}"))
                .context(|| format!("cannot vacuum the change log of {}", table.display_name()))?;
        }
        Ok(())
    }

    /// Finishes what a killed dumper left: publishes committed packets still under their
    /// temporary names, removes temporary files of cuts that never committed, rewrites the index.
    pub fn recover(&mut self) -> Result<()> {
        let out = self.opts.out.clone();
        let tmp_dir = out.join(TMP_DIR);
        let rows = self
            .client
            .query("SELECT serial, path, sha256, bytes FROM replgen.cuts ORDER BY serial DESC LIMIT $1", &[&(self.opts.keep as i64)])
            .context(|| "cannot read replgen.cuts".into())?;
        for row in &rows {
            let serial: i64 = row.get(0);
            let path: String = row.get(1);
            let sha: String = row.get(2);
            let bytes: i64 = row.get(3);
            let final_path = out.join(&path);
            if final_path.exists() {
                continue;
            }
            let tmp = tmp_dir.join(tmp_packet_name(serial as u64));
            let found = fsutil::hash_file(&tmp).ok();
            if found != Some((sha.clone(), bytes as u64)) {
                return Err(Error::Refused(format!(
                    "packet {serial} was committed but its file {} is missing and no intact temporary copy exists; \
                     restore the feed folder from a backup",
                    final_path.display()
                )));
            }
            tracing::info!(
                serial,
                "publishing packet {serial} left unpublished by an interrupted dump"
            );
            fsutil::publish(&tmp, &final_path)
                .context(|| format!("cannot publish {}", final_path.display()))?;
        }
        crate::export::recover_exports(self)?;
        if tmp_dir.is_dir() {
            for entry in
                fs::read_dir(&tmp_dir).context(|| format!("cannot list {}", tmp_dir.display()))?
            {
                let path = entry
                    .context(|| format!("cannot list {}", tmp_dir.display()))?
                    .path();
                tracing::info!("removing {}, left by an interrupted dump", path.display());
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        self.write_index()
    }

    /// Rewrites index.xml from replgen.cuts and replgen.exports.
    pub fn write_index(&mut self) -> Result<()> {
        let keep = self.opts.keep.max(1) as i64;
        let rows = self
            .client
            .query(
                "SELECT serial, path, created, bytes, sha256, schema_version, rows FROM replgen.cuts \
                 ORDER BY serial DESC LIMIT $1",
                &[&keep],
            )
            .context(|| "cannot read replgen.cuts".into())?;
        let mut packets: Vec<Entry> = rows.iter().map(entry_from_row).collect();
        packets.reverse();
        let export = self
            .client
            .query_opt(
                "SELECT serial, path, created, bytes, sha256, schema_version, rows FROM replgen.exports \
                 ORDER BY serial DESC LIMIT 1",
                &[],
            )
            .context(|| "cannot read replgen.exports".into())?
            .map(|row| entry_from_row(&row));
        let index = Index { packets, export };
        let path = self.opts.out.join("index.xml");
        fsutil::write_atomic(&path, &index.to_xml())
            .context(|| format!("cannot write {}", path.display()))?;
        if self.opts.delete_pruned {
            self.delete_pruned(&index)?;
        }
        Ok(())
    }

    fn delete_pruned(&mut self, index: &Index) -> Result<()> {
        let Some(oldest) = index.packets.first().map(|p| p.serial as i64) else {
            return Ok(());
        };
        let rows = self
            .client
            .query(
                "SELECT path FROM replgen.cuts WHERE serial < $1 ORDER BY serial DESC",
                &[&oldest],
            )
            .context(|| "cannot read replgen.cuts".into())?;
        for row in rows {
            let path = self.opts.out.join(row.get::<_, String>(0));
            if !path.exists() {
                break; // everything older was pruned by an earlier cut
            }
            fs::remove_file(&path)
                .context(|| format!("cannot delete the pruned packet {}", path.display()))?;
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

fn tmp_packet_name(serial: u64) -> String {
    format!("packet-{serial:09}.partial")
}

/// Refuses to cut when the capture installed in the database is not the one this binary was
/// generated with (a forgotten migration would otherwise produce packets nobody can apply).
fn check_capture(client: &mut Client, schema: &SchemaDef) -> Result<()> {
    let installed = client
        .query_opt(
            "SELECT schema_version, fingerprint FROM replgen.meta WHERE to_regclass('replgen.meta') IS NOT NULL",
            &[],
        )
        .or_else(|_| Ok::<_, postgres::Error>(None))
        .context(|| "cannot read replgen.meta".into())?;
    match installed {
        None => Err(Error::Refused(
            "change capture is not installed in this database; run the `install` command (or the generated migration) first".into(),
        )),
        Some(row) => {
            let version: i32 = row.get(0);
            let fingerprint: String = row.get(1);
            if version as u32 != schema.version || fingerprint != schema.fingerprint {
                Err(Error::Refused(format!(
                    "the database's capture is for schema_version {version} (fingerprint {}), but this binary was \
                     generated for schema_version {} (fingerprint {}); apply the current install migration",
                    &fingerprint[..fingerprint.len().min(12)],
                    schema.version,
                    &schema.fingerprint[..schema.fingerprint.len().min(12)]
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// Inside the cut's REPEATABLE READ transaction: writes the packet of everything the snapshot
/// sees in the change logs, deletes exactly those log rows and records the cut. Returns `None`
/// (and changes nothing) when there is nothing to cut.
pub(crate) fn prepare_cut(
    tx: &mut Transaction,
    schema: &'static SchemaDef,
    opts: &DumpOptions,
) -> Result<Option<PreparedCut>> {
    // Must be the transaction's first statement: the snapshot is taken by the next one.
    tx.batch_execute(&sql::for_tables("lock_tables", schema.tables))
        .context(|| "cannot lock the replicated tables for the cut".into())?;
    let pending: Vec<&'static TableDef> = tx
        .query(&sql::for_tables("pending", schema.tables), &[])
        .context(|| "cannot read the change logs".into())?
        .iter()
        .filter_map(|row| schema.table(row.get::<_, i32>(0) as u32))
        .collect();
    if pending.is_empty() && !opts.empty_packets {
        return Ok(None);
    }
    let last: i64 = tx
        .query_one("SELECT coalesce(max(serial), 0) FROM replgen.cuts", &[])
        .context(|| "cannot read replgen.cuts".into())?
        .get(0);
    let serial = last as u64 + 1;
    let created = db::now_utc(tx)?;
    let header = PacketHeader {
        serial,
        previous: serial - 1,
        schema_version: schema.version,
        fingerprint: schema.fingerprint.to_string(),
        created: created.clone(),
    };
    let tmp_dir = opts.out.join(TMP_DIR);
    fsutil::create_dirs(&tmp_dir).context(|| format!("cannot create {}", tmp_dir.display()))?;
    let tmp = tmp_dir.join(tmp_packet_name(serial));
    let (sha256, size, rows) = write_packet(tx, &pending, &header, &tmp, opts.compression)
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
    for table in &pending {
        tx.batch_execute(&format!(
            "DELETE FROM replgen.{}",
            sql::quote_ident(&format!("log_{}", table.id))
        ))
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

/// After the cut committed: gives the packet its final name.
pub(crate) fn publish_cut(out: &Path, cut: PreparedCut) -> Result<()> {
    let final_path = out.join(&cut.entry.path);
    fsutil::publish(&cut.tmp, &final_path)
        .context(|| format!("cannot publish {}", final_path.display()))
}

/// Streams every pending table's changed rows through gzip into `tmp`, durable on return.
fn write_packet(
    tx: &mut Transaction,
    tables: &[&'static TableDef],
    header: &PacketHeader,
    tmp: &Path,
    level: u32,
) -> Result<(String, u64, u64)> {
    let io_ctx = || format!("cannot write {}", tmp.display());
    let mut gz = GzFile::create(tmp, level).context(io_ctx)?;
    header.write_to(&mut gz).context(io_ctx)?;
    let mut rows = 0u64;
    // The dump query sorts and hashes every changed key; JIT only adds start-up time to it.
    tx.batch_execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        .context(|| "cannot set the cut's planner settings".into())?;
    for table in tables {
        choose_join(tx, table)?;
        let reader = tx
            .copy_out(&sql::for_table("dump_table", table))
            .context(|| format!("cannot read the changed rows of {}", table.display_name()))?;
        rows += copy_lines(BufReader::with_capacity(1 << 20, reader), table, &mut gz).map_err(
            |source| Error::Io {
                context: format!("while dumping {}", table.display_name()),
                source,
            },
        )?;
    }
    crate::faults::crash_point("dump-mid-packet");
    packet::write_trailer(&mut gz, rows).context(io_ctx)?;
    let (sha256, size) = gz.finish().context(io_ctx)?;
    Ok((sha256, size, rows))
}

/// Tells the planner how to join a table's changed keys to its rows: probing the primary key
/// per key while the keys are few next to the table, one hash join over the table otherwise
/// (at 1M changed keys of a 1M-row table that is 3.1 s instead of 6.2 s).
fn choose_join(tx: &mut Transaction, table: &TableDef) -> Result<()> {
    let row = tx
        .query_one(
            &sql::for_table("dump_plan", table),
            &[&table.schema, &table.name],
        )
        .context(|| format!("cannot size the change log of {}", table.display_name()))?;
    let (keys, table_rows): (i64, i64) = (row.get(0), row.get(1));
    let many = keys > 10_000 && (table_rows < 0 || keys.saturating_mul(20) > table_rows);
    tx.batch_execute(if many {
        "SET LOCAL enable_nestloop = off"
    } else {
        "SET LOCAL enable_nestloop = on"
    })
    .context(|| "cannot set the cut's planner settings".into())
}

/// Rewrites the dump query's lines (`id, rowid, ts, op, every column, every key column`) into
/// packet lines: ADD/UPDATE keep the columns, REMOVE keeps only the key.
fn copy_lines(
    mut input: impl BufRead,
    table: &TableDef,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    let columns = table.columns.len();
    let mut line = Vec::with_capacity(4096);
    let mut rows = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(rows);
        }
        rows += 1;
        // Tab positions: after field 3 (op) the values begin; after field 3 + columns the key.
        let mut tabs = memchr::memchr_iter(b'\t', &line);
        let values_start = tabs.nth(3).map(|p| p + 1);
        let key_tab = tabs.nth(columns - 1);
        let (Some(values_start), Some(key_tab)) = (values_start, key_tab) else {
            return Err(std::io::Error::other(
                "the dump query returned a malformed line",
            ));
        };
        let op = line[values_start - 2];
        if op == b'2' {
            out.write_all(&line[..values_start])?;
            out.write_all(&line[key_tab + 1..])?;
        } else {
            out.write_all(&line[..key_tab])?;
            out.write_all(b"\n")?;
        }
    }
}

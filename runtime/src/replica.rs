//! The replica side: `apply` (verify, then apply packets in serial order, each with the position
//! in one transaction), `import` (load an export into empty tables) and the position itself.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use postgres::{Client, Transaction};

use crate::codec::DecodeError;
use crate::db::{self, LOCK_REPLICA};
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::index::Entry;
use crate::manifest::Manifest;
use crate::packet::{Limits, Op, PacketReader};
use crate::source::Source;
use crate::sql;

/// A replica's position: the last packet applied (or the export imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub serial: u64,
    pub schema_version: u32,
    pub fingerprint: String,
    pub packet_created: String,
    pub applied_at: String,
}

/// What one `apply` run did.
#[derive(Debug, Clone, Default)]
pub struct ApplySummary {
    pub packets: u64,
    pub rows: u64,
    pub from: u64,
    pub to: u64,
    pub seconds: f64,
}

pub struct Replica {
    client: Client,
    schema: &'static SchemaDef,
    pub limits: Limits,
    work_dir: PathBuf,
    /// Set (by a signal handler) to stop between packets.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
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
                "another apply or import is running against this replica; only one may change it at a time".into(),
            ));
        }
        let work_dir = std::env::temp_dir().join(format!("replgen-apply-{}", std::process::id()));
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
        read_position(&mut client)
    }

    pub fn position(&mut self) -> Result<Option<Position>> {
        read_position(&mut self.client)
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
            self.check_schema(p.schema_version, &p.fingerprint, "the replica's position")?;
        }
        let newest = index.newest_serial();
        let mut summary = ApplySummary {
            from: current,
            to: current,
            ..Default::default()
        };
        match newest {
            None => return Ok(summary),
            Some(newest) if newest < current => {
                return Err(Error::Refused(format!(
                    "the replica is at packet {current}, but the feed's newest packet is {newest}: \
                     the feed was rolled back or this replica follows another master"
                )))
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
                let advice = if position.is_none() {
                    "this replica has no position yet: import the latest export first (`import`)"
                        .to_string()
                } else {
                    "import the latest export to catch up".to_string()
                };
                return Err(Error::Refused(format!(
                    "the replica is at packet {current}, but the oldest packet the feed still lists is {}; {advice}",
                    first.serial
                )));
            }
        }
        std::fs::create_dir_all(&self.work_dir)
            .context(|| format!("cannot create {}", self.work_dir.display()))?;
        let total = pending.len() as u64;
        for (i, entry) in pending.into_iter().enumerate() {
            if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let rows = self.apply_entry(source, entry)?;
            summary.packets += 1;
            summary.rows += rows;
            summary.to = entry.serial;
            progress(i as u64 + 1, total, entry);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    fn check_schema(&self, version: u32, fingerprint: &str, what: &str) -> Result<()> {
        if version != self.schema.version {
            return Err(Error::Refused(format!(
                "{what} is for schema_version {version}, but this binary is for schema_version {}; \
                 upgrade the replica's tables and this binary to the feed's schema, then import the latest export",
                self.schema.version
            )));
        }
        if fingerprint != self.schema.fingerprint {
            return Err(Error::Refused(format!(
                "{what} has schema_version {version} but a different table layout (fingerprint {}…, this binary {}…); \
                 regenerate this binary from the master's schema.yaml",
                &fingerprint[..fingerprint.len().min(12)],
                &self.schema.fingerprint[..12.min(self.schema.fingerprint.len())]
            )));
        }
        Ok(())
    }

    /// Downloads one packet, checks its size and sha256, then applies it in one transaction.
    fn apply_entry(&mut self, source: &Source, entry: &Entry) -> Result<u64> {
        let local = self.work_dir.join(format!("packet-{}.gz", entry.serial));
        let fetched = source.fetch_verified(&entry.path, entry.size, &entry.sha256, &local);
        let result = fetched
            .map_err(Error::from)
            .and_then(|()| self.apply_file(&local, entry));
        let _ = std::fs::remove_file(&local);
        result
    }

    /// Applies a verified packet file: everything, with the new position, or nothing.
    pub fn apply_file(&mut self, path: &Path, entry: &Entry) -> Result<u64> {
        let (schema, limits) = (self.schema, self.limits);
        let packet_err = |source| Error::Packet {
            serial: entry.serial,
            path: entry.path.clone(),
            source,
        };
        let file = File::open(path).context(|| format!("cannot open {}", path.display()))?;
        let gz = BufReader::with_capacity(1 << 20, MultiGzDecoder::new(BufReader::new(file)));
        let mut reader = PacketReader::new(gz, limits).map_err(packet_err)?;
        let header = reader.header().clone();
        let refuse = |why: String| {
            Error::Refused(format!("packet {} ({}): {why}", entry.serial, entry.path))
        };
        if header.serial != entry.serial {
            return Err(refuse(format!(
                "its header says serial {}, but the index lists it as {}",
                header.serial, entry.serial
            )));
        }
        if header.previous + 1 != header.serial {
            return Err(refuse(format!(
                "its header says it follows packet {}, not {}",
                header.previous,
                header.serial - 1
            )));
        }
        self.check_schema(
            header.schema_version,
            &header.fingerprint,
            &format!("packet {}", entry.serial),
        )?;

        let mut tx = self
            .client
            .transaction()
            .context(|| "cannot begin a transaction".into())?;
        let at: Option<i64> = tx
            .query_opt("SELECT serial FROM replgen.replica_state FOR UPDATE", &[])
            .context(|| "cannot read replgen.replica_state".into())?
            .map(|row| row.get(0));
        let at = at.unwrap_or(0) as u64;
        if at >= entry.serial {
            return Err(refuse(format!("the replica already applied it (replica is at packet {at}); a packet is never applied twice")));
        }
        if at + 1 != entry.serial {
            return Err(refuse(format!(
                "the replica is at packet {at}; packets apply in order, and {} comes next",
                at + 1
            )));
        }

        let mut staged: HashSet<u32> = HashSet::new();
        let mut order: Vec<&'static TableDef> = Vec::new();
        let mut rows = 0u64;
        let mut line_buf: Vec<u8> = Vec::with_capacity(4096);
        let mut read =
            |line_buf: &mut Vec<u8>| next_staged_line(schema, entry, &mut reader, line_buf);
        // One COPY per run of lines of one table; statements run only between COPYs.
        let mut next = read(&mut line_buf)?;
        while let Some(table) = next {
            if staged.insert(table.id) {
                tx.batch_execute(&sql::for_table("stage", table))
                    .context(|| format!("cannot prepare staging for {}", table.display_name()))?;
                order.push(table);
            }
            let mut writer = tx
                .copy_in(&sql::for_table("stage_copy", table))
                .context(|| format!("cannot stage the rows of {}", table.display_name()))?;
            loop {
                writer.write_all(&line_buf).map_err(|e| {
                    Error::Refused(format!(
                        "packet {}: the replica refused a row: {e}",
                        entry.serial
                    ))
                })?;
                rows += 1;
                next = read(&mut line_buf)?;
                if next.map(|t| t.id) != Some(table.id) {
                    break;
                }
            }
            writer.finish().map_err(|source| Error::Db {
                context: format!(
                    "packet {}: cannot stage the rows of {}",
                    entry.serial,
                    table.display_name()
                ),
                source,
            })?;
        }
        crate::faults::crash_point("apply-staged");
        for table in order {
            tx.batch_execute(&sql::for_table("merge", table))
                .map_err(|source| Error::Db {
                    context: format!(
                        "packet {}: cannot apply the rows of {}",
                        entry.serial,
                        table.display_name()
                    ),
                    source,
                })?;
        }
        set_position(
            &mut tx,
            entry.serial,
            header.schema_version,
            &header.fingerprint,
            &header.created,
        )?;
        crate::faults::crash_point("apply-before-commit");
        tx.commit()
            .context(|| format!("cannot commit packet {}", entry.serial))?;
        crate::faults::crash_point("apply-after-commit");
        Ok(rows)
    }

    /// Loads the feed's latest export into the replica's (empty) tables and sets the position.
    pub fn import(
        &mut self,
        source: &Source,
        replace: bool,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<(u64, u64)> {
        let schema = self.schema;
        let index = source.index()?;
        let export = index.export.ok_or_else(|| {
            Error::Refused(format!(
                "the feed at {} lists no export; run `export` on the master",
                source.describe("")
            ))
        })?;
        std::fs::create_dir_all(&self.work_dir)
            .context(|| format!("cannot create {}", self.work_dir.display()))?;
        let mut bytes = Vec::new();
        let manifest_local = self.work_dir.join("manifest.xml");
        source.fetch_verified(&export.path, export.size, &export.sha256, &manifest_local)?;
        File::open(&manifest_local)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .context(|| "cannot read the manifest".into())?;
        let manifest = Manifest::parse(&bytes)
            .map_err(|e| Error::Refused(format!("export {}: {e}", export.serial)))?;
        if manifest.serial != export.serial {
            return Err(Error::Refused(format!(
                "export {}: its manifest says serial {}",
                export.serial, manifest.serial
            )));
        }
        self.check_schema(
            manifest.schema_version,
            &manifest.fingerprint,
            &format!("export {}", export.serial),
        )?;
        for table in schema.tables {
            if !manifest.tables.iter().any(|t| t.id == table.id) {
                return Err(Error::Refused(format!(
                    "export {} has no file for table {}",
                    export.serial,
                    table.display_name()
                )));
            }
        }
        let base = export
            .path
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default();

        let mut tx = self
            .client
            .transaction()
            .context(|| "cannot begin the import".into())?;
        let existing: Option<i64> = tx
            .query_opt("SELECT serial FROM replgen.replica_state FOR UPDATE", &[])
            .context(|| "cannot read replgen.replica_state".into())?
            .map(|r| r.get(0));
        for table in schema.tables {
            let qname = format!(
                "{}.{}",
                sql::quote_ident(table.schema),
                sql::quote_ident(table.name)
            );
            let has_rows: bool = tx
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {qname})"), &[])
                .context(|| format!("cannot read {}", table.display_name()))?
                .get(0);
            if has_rows || existing.is_some() {
                if !replace {
                    return Err(Error::Refused(format!(
                        "the replica is not empty ({}); import loads only into empty tables, or pass --replace to overwrite them",
                        if has_rows { format!("{} has rows", table.display_name()) } else { "it already has a position".to_string() }
                    )));
                }
                tx.batch_execute(&format!("DELETE FROM {qname}"))
                    .context(|| format!("cannot empty {}", table.display_name()))?;
            }
        }
        let mut total_rows = 0;
        for file in &manifest.tables {
            let table = schema.table(file.id).ok_or_else(|| {
                Error::Refused(format!(
                    "export {}: unknown table id {}",
                    export.serial, file.id
                ))
            })?;
            let rel = if base.is_empty() {
                file.path.clone()
            } else {
                format!("{base}/{}", file.path)
            };
            let local = self.work_dir.join(format!("table-{}.copy.gz", file.id));
            source.fetch_verified(&rel, file.size, &file.sha256, &local)?;
            let rows =
                load_table(&mut tx, table, &local, file.rows, self.limits).map_err(|e| match e {
                    Error::Refused(why) => {
                        Error::Refused(format!("export {} ({rel}): {why}", export.serial))
                    }
                    other => other,
                });
            let _ = std::fs::remove_file(&local);
            let rows = rows?;
            total_rows += rows;
            progress(&table.display_name(), rows);
        }
        set_position(
            &mut tx,
            manifest.serial,
            manifest.schema_version,
            &manifest.fingerprint,
            &manifest.created,
        )?;
        for table in schema.tables {
            let qname = format!(
                "{}.{}",
                sql::quote_ident(table.schema),
                sql::quote_ident(table.name)
            );
            tx.batch_execute(&format!("ANALYZE {qname}"))
                .context(|| format!("cannot analyze {}", table.display_name()))?;
        }
        tx.commit().context(|| "cannot commit the import".into())?;
        let _ = std::fs::remove_file(&manifest_local);
        Ok((manifest.serial, total_rows))
    }
}

/// Reads the next data line, checks it through the codec and writes its staging form into
/// `out`; `None` after the trailer.
fn next_staged_line<R: BufRead>(
    schema: &'static SchemaDef,
    entry: &Entry,
    reader: &mut PacketReader<R>,
    out: &mut Vec<u8>,
) -> Result<Option<&'static TableDef>> {
    let mut fields = Vec::new();
    let line = match reader.next_line(&mut fields) {
        Ok(Some(line)) => line,
        Ok(None) => return Ok(None),
        Err(source) => {
            return Err(Error::Packet {
                serial: entry.serial,
                path: entry.path.clone(),
                source,
            })
        }
    };
    let line_no = line.line_no;
    let decode_err = |source: DecodeError| Error::Decode {
        serial: entry.serial,
        path: entry.path.clone(),
        source: Box::new(source.with_line(line_no)),
    };
    let table = schema.table(line.table_id).ok_or_else(|| {
        decode_err(DecodeError::new(format!(
            "unknown table id {}",
            line.table_id
        )))
    })?;
    check_line(table, line.op, line.values)
        .map_err(|e| decode_err(e.with_table(table.display_name())))?;
    out.clear();
    stage_line(table, line.op, line.values, out);
    Ok(Some(table))
}

/// Records the replica's new position, inside the transaction that changed its data.
fn set_position(
    tx: &mut Transaction,
    serial: u64,
    schema_version: u32,
    fingerprint: &str,
    created: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO replgen.replica_state (id, serial, schema_version, fingerprint, packet_created, applied_at) \
         VALUES (true, $1, $2, $3, $4, now()) \
         ON CONFLICT (id) DO UPDATE SET serial = EXCLUDED.serial, schema_version = EXCLUDED.schema_version, \
         fingerprint = EXCLUDED.fingerprint, packet_created = EXCLUDED.packet_created, applied_at = now()",
        &[&(serial as i64), &(schema_version as i32), &fingerprint, &created],
    )
    .map(|_| ())
    .context(|| "cannot record the replica's position".into())
}

fn read_position(client: &mut Client) -> Result<Option<Position>> {
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
             to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM replgen.replica_state",
            &[],
        )
        .context(|| "cannot read the replica's position".into())?;
    Ok(row.map(|r| Position {
        serial: r.get::<_, i64>(0) as u64,
        schema_version: r.get::<_, i32>(1) as u32,
        fingerprint: r.get(2),
        packet_created: r.get(3),
        applied_at: r.get(4),
    }))
}

/// Checks one data line's fields through the table's typed codec.
fn check_line(table: &TableDef, op: Op, values: &[&[u8]]) -> Result<(), DecodeError> {
    let expected = if op == Op::Remove {
        table.key.len()
    } else {
        table.columns.len()
    };
    if values.len() != expected {
        return Err(DecodeError::new(format!(
            "{} line has {} value fields, expected {expected}",
            op.as_str(),
            values.len()
        )));
    }
    if op == Op::Remove {
        (table.check_key)(values)
    } else {
        (table.check_row)(values)
    }
}

/// Writes a staging row: the operation, then every column (REMOVE: key columns, others NULL).
fn stage_line(table: &TableDef, op: Op, values: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'0' + op as u8);
    if op == Op::Remove {
        for i in 0..table.columns.len() {
            out.push(b'\t');
            match table.key.iter().position(|&k| k == i) {
                Some(pos) => out.extend_from_slice(values[pos]),
                None => out.extend_from_slice(b"\\N"),
            }
        }
    } else {
        for value in values {
            out.push(b'\t');
            out.extend_from_slice(value);
        }
    }
    out.push(b'\n');
}

/// Streams one export file into its table through COPY, checking every line with the codec.
fn load_table(
    tx: &mut Transaction,
    table: &TableDef,
    path: &Path,
    expected_rows: u64,
    limits: Limits,
) -> Result<u64> {
    let file = File::open(path).context(|| format!("cannot open {}", path.display()))?;
    let mut input = BufReader::with_capacity(1 << 20, MultiGzDecoder::new(BufReader::new(file)));
    let mut writer = tx
        .copy_in(&sql::for_table("import_copy", table))
        .context(|| format!("cannot load {}", table.display_name()))?;
    let mut line = Vec::with_capacity(4096);
    let mut rows = 0u64;
    loop {
        line.clear();
        let read = (&mut input)
            .take(limits.max_line as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Refused(format!("the file cannot be decompressed: {e}")))?;
        if read == 0 {
            break;
        }
        rows += 1;
        if line.last() != Some(&b'\n') {
            return Err(Error::Refused(format!(
                "line {rows} is truncated or longer than {} bytes",
                limits.max_line
            )));
        }
        let fields: Vec<&[u8]> = line[..line.len() - 1].split(|&b| b == b'\t').collect();
        check_line(table, Op::Add, &fields).map_err(|e| {
            Error::Refused(
                e.with_table(table.display_name())
                    .with_line(rows)
                    .to_string(),
            )
        })?;
        writer.write_all(&line).map_err(|e| {
            Error::Refused(format!("line {rows}: the replica refused the row: {e}"))
        })?;
    }
    if rows != expected_rows {
        return Err(Error::Refused(format!(
            "the file has {rows} rows, but the manifest lists {expected_rows}"
        )));
    }
    writer
        .finish()
        .context(|| format!("cannot load {}", table.display_name()))?;
    Ok(rows)
}

impl Drop for Replica {
    fn drop(&mut self) {
        // Downloaded files are removed as they are applied; this removes their folder.
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

//! Full exports aligned with the packet sequence: a cut and a copy of every replicated table in
//! one snapshot, so "export N" holds every change up to and including packet N.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use postgres::{IsolationLevel, Transaction};

use super::cut::{last_cut, prepare_cut, publish_cut};
use super::Master;
use crate::db::{self, LOCK_CUT};
use crate::def::TableDef;
use crate::error::{Context, Error, Result};
use crate::faults::crash_point;

use crate::feed::durable::{self, GzFile};
use crate::manifest::{Manifest, TableFile};
use crate::packet::Limits;
use crate::sql;
use crate::timefmt;

/// What one export published.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub serial: u64,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub path: String,
    /// The packet cut together with the export, if there were pending changes.
    pub cut: Option<u64>,
    /// Nothing changed since the newest export, which is still current and was kept.
    pub reused: bool,
}

/// How many finished exports stay on disk (the index lists the newest).
pub(super) const EXPORTS_KEPT: i64 = 2;

fn export_dir_name(serial: u64, created: &str) -> String {
    format!("export-{serial:09}-{}", timefmt::file_stamp(created))
}

impl Master {
    /// Cuts pending changes into packet N (if any) and exports every table as of that cut.
    pub fn export(&mut self) -> Result<ExportSummary> {
        let started = Instant::now();
        self.tally.start(0);
        db::lock(&mut self.client, LOCK_CUT)?;
        let result = last_cut(&mut self.client)
            .and_then(|(last, _)| self.check_folder(last))
            .and_then(|()| self.retry_on_upgrade(|master| master.export_locked(started)));
        let unlock = db::unlock(&mut self.client, LOCK_CUT);
        let summary = result?;
        unlock?;
        Ok(summary)
    }

    fn export_locked(&mut self, started: Instant) -> Result<ExportSummary> {
        let (schema, opts) = (self.schema, self.opts.clone());
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(false)
            .start()
            .context(|| "cannot begin the export".into())?;
        let cut = prepare_cut(
            &mut tx,
            self.binary,
            schema,
            &opts,
            &self.feed,
            &self.identity,
        )?;
        let (serial, packet_sha256) = match &cut {
            Some(c) => (c.entry.serial, Some(c.entry.sha256.clone())),
            None => last_cut(&mut tx)?,
        };
        if cut.is_none() {
            // Nothing changed since the newest export: it is still exact, and listed files are
            // never rewritten.
            let current = tx
                .query_opt(
                    "SELECT path, rows, bytes FROM replgen.exports WHERE serial = $1",
                    &[&(serial as i64)],
                )
                .context(|| "cannot read replgen.exports".into())?;
            if let Some(row) = current {
                let path: String = row.get(0);
                if self.feed.exists(&path)? {
                    tx.commit().context(|| "cannot end the export".into())?;
                    return Ok(ExportSummary {
                        serial,
                        tables: schema.tables.len(),
                        rows: row.get::<_, i64>(1) as u64,
                        bytes: row.get::<_, i64>(2) as u64,
                        seconds: started.elapsed().as_secs_f64(),
                        path,
                        cut: None,
                        reused: true,
                    });
                }
            }
        }
        let created = db::now_utc(&mut tx)?;
        let name = export_dir_name(serial, &created);
        self.feed.prepare_tmp()?;
        let tmp_dir = self.feed.export_tmp(&name);
        durable::create_dirs(&tmp_dir)
            .context(|| format!("cannot create {}", tmp_dir.display()))?;
        let mut manifest = Manifest {
            serial,
            feed: self.identity.id.clone(),
            packet_sha256,
            schema_version: schema.version,
            fingerprint: schema.fingerprint.to_string(),
            created: created.clone(),
            tables: Vec::new(),
        };
        for table in schema.tables {
            let file_name = format!("table-{}.copy.gz", table.id);
            let (sha256, size, rows) = export_table(
                &mut tx,
                table,
                &tmp_dir.join(&file_name),
                opts.compression,
                &self.tally,
            )?;
            manifest.tables.push(TableFile {
                id: table.id,
                name: table.display_name(),
                path: file_name,
                size,
                sha256,
                rows,
            });
        }
        let manifest_bytes = manifest.to_xml();
        let manifest_path = tmp_dir.join("manifest.xml");
        durable::write_atomic(&manifest_path, &manifest_bytes)
            .context(|| format!("cannot write {}", manifest_path.display()))?;
        durable::sync_dir(&tmp_dir).context(|| format!("cannot sync {}", tmp_dir.display()))?;
        let (sha256, size) = durable::hash_file(&manifest_path)
            .context(|| format!("cannot read {}", manifest_path.display()))?;
        let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = manifest.tables.iter().map(|t| t.size).sum::<u64>() + size;
        let rel = format!("exports/{name}/manifest.xml");
        // In object storage the export goes up under its final name before the commit.
        self.feed.stage(&tmp_dir, &format!("exports/{name}"))?;
        tx.execute(
            "INSERT INTO replgen.exports (serial, created, path, bytes, sha256, rows, schema_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (serial) DO UPDATE SET created = EXCLUDED.created, path = EXCLUDED.path, \
             bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256, rows = EXCLUDED.rows",
            &[&(serial as i64), &created, &rel, &(size as i64), &sha256, &(rows as i64), &(schema.version as i32)],
        )
        .context(|| "cannot record the export".into())?;
        crash_point("export-before-commit");
        tx.commit().context(|| "cannot commit the export".into())?;
        self.published = true;
        crash_point("export-after-commit");
        let cut_serial = cut.as_ref().map(|c| c.entry.serial);
        if let Some(cut) = cut {
            publish_cut(&self.feed, cut)?;
        }
        self.feed.publish(&tmp_dir, &format!("exports/{name}"))?;
        self.write_index()?;
        self.prune_exports()?;
        Ok(ExportSummary {
            serial,
            tables: manifest.tables.len(),
            rows,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            path: rel,
            cut: cut_serial,
            reused: false,
        })
    }

    /// Deletes exports older than the newest few, from disk and from replgen.exports.
    fn prune_exports(&mut self) -> Result<()> {
        let old = self
            .client
            .query(
                "SELECT serial, path FROM replgen.exports ORDER BY serial DESC OFFSET $1",
                &[&EXPORTS_KEPT],
            )
            .context(|| "cannot read replgen.exports".into())?;
        for row in old {
            let serial: i64 = row.get(0);
            self.feed.remove_folder_of(&row.get::<_, String>(1))?;
            self.client
                .execute("DELETE FROM replgen.exports WHERE serial = $1", &[&serial])
                .context(|| "cannot prune replgen.exports".into())?;
        }
        Ok(())
    }
}

fn export_table(
    tx: &mut Transaction,
    table: &TableDef,
    path: &Path,
    level: u32,
    tally: &crate::tally::Tally,
) -> Result<(String, u64, u64)> {
    let io_ctx = || format!("cannot write {}", path.display());
    let mut gz = GzFile::create(path, level).context(io_ctx)?;
    let mut reader = tx
        .copy_out(&sql::for_table("export_table", table))
        .context(|| format!("cannot read {}", table.display_name()))?;
    let mut counter = LineCounter {
        inner: &mut gz,
        lines: 0,
        current: 0,
        longest: 0,
        tally,
    };
    std::io::copy(&mut reader, &mut counter)
        .context(|| format!("while exporting {}", table.display_name()))?;
    // import reads lines under the same limits as apply: never publish one it would refuse.
    let limit = Limits::DEFAULT.max_line.min(Limits::DEFAULT.max_field) as u64;
    if counter.longest > limit {
        return Err(Error::RowTooLarge {
            table: table.display_name(),
            key: "(a row of the export)".into(),
            bytes: counter.longest,
            limit,
        });
    }
    let rows = counter.lines;
    let (sha256, size) = gz.finish().context(io_ctx)?;
    Ok((sha256, size, rows))
}

/// Counts the lines passing through, and the longest one (without its newline).
struct LineCounter<'a, W> {
    inner: W,
    lines: u64,
    current: u64,
    longest: u64,
    tally: &'a crate::tally::Tally,
}

impl<W: Write> Write for LineCounter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let lines_before = self.lines;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.longest = self.longest.max(self.current + (end - start) as u64);
            self.current = 0;
            self.lines += 1;
            start = end + 1;
        }
        self.current += (n - start) as u64;
        self.tally.add(self.lines - lines_before, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

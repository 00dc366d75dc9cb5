//! `import`: loads a feed's latest export into the replica's empty tables (or, with
//! `--replace`, over their rows) and sets the position to the export's serial, all in one
//! transaction, checking every line through the typed codec on the way.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use flate2::read::MultiGzDecoder;
use postgres::Transaction;

use super::rows::check_line;
use super::{position, Replica};
use crate::def::TableDef;
use crate::error::{Context, Error, Result};
use crate::manifest::Manifest;
use crate::packet::{Limits, Op};
use crate::source::Source;
use crate::sql;

impl Replica {
    /// Loads the feed's latest export into the replica's (empty) tables and sets the position.
    pub fn import(
        &mut self,
        source: &Source,
        replace: bool,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<(u64, u64)> {
        let index = source.index()?;
        super::check_signed_index(source, &index, self.position()?.as_ref(), replace)?;
        let export = index.export.ok_or_else(|| Error::NoExport {
            feed: source.describe(""),
        })?;
        let refuse = |reason: String| Error::Export {
            serial: export.serial,
            reason,
        };
        let mut bytes = Vec::new();
        source
            .fetch_verified(&export.path, export.size, &export.sha256)?
            .read_to_end(&mut bytes)
            .context(|| "cannot read the manifest".into())?;
        let manifest = Manifest::parse(&bytes).map_err(|source| Error::Manifest {
            serial: export.serial,
            source,
        })?;
        if manifest.serial != export.serial {
            return Err(refuse(format!(
                "its manifest says serial {}",
                manifest.serial
            )));
        }
        // An export imports with the layout it was written in, into tables of that layout;
        // the packets after it upgrade them.
        let schema = self.layout_of(
            manifest.schema_version,
            &manifest.fingerprint,
            &format!("export {}", export.serial),
        )?;
        for table in schema.tables {
            if !manifest.tables.iter().any(|t| t.id == table.id) {
                return Err(refuse(format!(
                    "it has no file for table {}",
                    table.display_name()
                )));
            }
        }
        let base = export
            .path
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default();

        let mut tx = super::begin(&mut self.client, schema, self.mode)?;
        let existing = position::lock(&mut tx)?;
        if existing.is_none() && schema.version != self.schema.version {
            check_tables_are_of(&mut tx, schema, self.schema, export.serial)?;
        }
        // `import --replace` of a newer version's export over tables of an older one this
        // binary knows: the tables are upgraded first, in this transaction (every one of them is
        // replaced, so every change counts as reloaded).
        let mut upgrade = None;
        if let (true, Some(l)) = (replace, &existing) {
            let old = super::layout_of(
                self.schema,
                l.schema_version,
                &l.fingerprint,
                "the replica's position",
            )?;
            if old.version < schema.version {
                let all: Vec<u32> = schema.tables.iter().map(|t| t.id).collect();
                let what = format!("export {}", export.serial);
                upgrade = Some(super::upgrade::before_rows(
                    &mut tx,
                    old,
                    schema,
                    &all,
                    self.keep_dropped,
                    &what,
                )?);
            }
        }
        for table in schema.tables {
            let has_rows: bool = tx
                .query_one(&sql::for_table("has_rows", table), &[])
                .context(|| format!("cannot read {}", table.display_name()))?
                .get(0);
            if has_rows || existing.is_some() {
                if !replace {
                    return Err(Error::NotEmpty {
                        reason: if has_rows {
                            format!("{} has rows", table.display_name())
                        } else {
                            "it already has a position".to_string()
                        },
                    });
                }
                tx.batch_execute(&sql::for_table("empty_table", table))
                    .context(|| format!("cannot empty {}", table.display_name()))?;
            }
        }
        let mut total_rows = 0;
        self.tally
            .start(manifest.tables.iter().map(|t| t.rows).sum());
        for file in &manifest.tables {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Error::Interrupted);
            }
            let table = schema
                .table(file.id)
                .ok_or_else(|| refuse(format!("unknown table id {}", file.id)))?;
            let rel = if base.is_empty() {
                file.path.clone()
            } else {
                format!("{base}/{}", file.path)
            };
            let local = source.fetch_verified(&rel, file.size, &file.sha256)?;
            let rows = load_table(
                &mut tx,
                table,
                local,
                file.rows,
                self.limits,
                &self.stop,
                &self.tally,
            )
            .map_err(|e| e.into_error(refuse, &rel))?;
            total_rows += rows;
            progress(&table.display_name(), rows);
        }
        if let Some(upgrade) = upgrade {
            super::upgrade::after_rows(&mut tx, upgrade)?;
        }
        let feed = (!manifest.feed.is_empty()).then_some(manifest.feed.as_str());
        position::set(
            &mut tx,
            &position::Update {
                serial: manifest.serial,
                schema_version: manifest.schema_version,
                fingerprint: &manifest.fingerprint,
                created: &manifest.created,
                feed,
                last_sha256: manifest.packet_sha256.as_deref(),
                imported: true,
            },
        )?;
        for table in schema.tables {
            tx.batch_execute(&sql::for_table("analyze", table))
                .context(|| format!("cannot analyze {}", table.display_name()))?;
        }
        tx.commit().context(|| "cannot commit the import".into())?;
        Ok((manifest.serial, total_rows))
    }
}

/// Why one export file did not load: what is wrong with the file, or a failure of its own.
enum LoadError {
    File(String),
    Other(Error),
}

impl LoadError {
    fn into_error(self, refuse: impl Fn(String) -> Error, rel: &str) -> Error {
        match self {
            LoadError::File(why) => refuse(format!("{rel}: {why}")),
            LoadError::Other(e) => e,
        }
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        LoadError::Other(e)
    }
}

/// Streams one export file into its table through COPY, checking every line with the codec.
fn load_table(
    tx: &mut Transaction,
    table: &TableDef,
    file: File,
    expected_rows: u64,
    limits: Limits,
    stop: &AtomicBool,
    tally: &crate::tally::Tally,
) -> std::result::Result<u64, LoadError> {
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
            .map_err(|e| LoadError::File(format!("the file cannot be decompressed: {e}")))?;
        if read == 0 {
            break;
        }
        rows += 1;
        // A signal stops the load here; the transaction rolls back, nothing is imported.
        if rows.is_multiple_of(4096) && stop.load(Ordering::SeqCst) {
            return Err(LoadError::Other(Error::Interrupted));
        }
        if line.last() != Some(&b'\n') {
            return Err(LoadError::File(format!(
                "line {rows} is truncated or longer than {} bytes",
                limits.max_line
            )));
        }
        let fields: Vec<&[u8]> = line[..line.len() - 1].split(|&b| b == b'\t').collect();
        if let Some(long) = fields.iter().find(|f| f.len() > limits.max_field) {
            return Err(LoadError::File(format!(
                "line {rows}: a field of {} bytes is longer than the limit of {} bytes",
                long.len(),
                limits.max_field
            )));
        }
        check_line(table, Op::Add, &fields).map_err(|e| {
            LoadError::File(
                e.with_table(table.display_name())
                    .with_line(rows)
                    .to_string(),
            )
        })?;
        writer.write_all(&line).map_err(|e| {
            LoadError::File(format!("line {rows}: the replica refused the row: {e}"))
        })?;
        tally.add(1, line.len() as u64);
    }
    if rows != expected_rows {
        return Err(LoadError::File(format!(
            "the file has {rows} rows, but the manifest lists {expected_rows}"
        )));
    }
    writer
        .finish()
        .context(|| format!("cannot load {}", table.display_name()))?;
    Ok(rows)
}

/// A new mirror's tables must be of the export's layout: as this binary's `init` makes them
/// they are of its own version, and an export of an earlier one cannot go into them (a NOT NULL
/// column it lacks fails the COPY; one it lacks that allows NULL, or a table it lacks, would
/// leave the next upgrade stuck on what it finds already there).
fn check_tables_are_of(
    tx: &mut Transaction,
    layout: &'static crate::def::SchemaDef,
    binary: &'static crate::def::SchemaDef,
    serial: u64,
) -> Result<()> {
    let refuse = |problems| Error::ImportLayout {
        serial,
        version: layout.version,
        binary: binary.version,
        problems,
    };
    match crate::master::live_tables::check(tx, layout) {
        Err(Error::LiveTablesDiffer { problems }) => return Err(refuse(problems)),
        other => other?,
    }
    // Tables that also hold what only the newer layout has (a table, a column, a new name)
    // were made for it. Without such an addition the check cannot tell them apart.
    let adds = binary.tables.iter().any(|t| match layout.table(t.id) {
        None => true,
        Some(old) => {
            (t.schema, t.name) != (old.schema, old.name)
                || t.columns
                    .iter()
                    .any(|c| old.columns.iter().all(|o| o.name != c.name))
        }
    });
    if !adds {
        return Ok(());
    }
    match crate::master::live_tables::check(tx, binary) {
        Err(Error::LiveTablesDiffer { .. }) => Ok(()),
        Ok(()) => Err(refuse(vec![format!(
            "they are schema_version {}'s, as this binary's `init` makes them",
            binary.version
        )])),
        Err(e) => Err(e),
    }
}

//! A batch staged newest packet first still copies its long runs of new rows straight into
//! their tables, but holds them in a temporary file until the merge of the older packets' lines
//! has run, then copies them in packet order: one COPY per table for the whole batch, keys
//! arriving in the order the master gave them (a b-tree takes ascending keys at its right edge;
//! runs in descending packet order split its pages in the middle), and after the older lines,
//! which they are newer than (an older packet's REMOVE of a row with the same unique value is
//! merged first, as on the master).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use postgres::Transaction;

use crate::def::TableDef;
use crate::error::{describe_copy_write, describe_db, Error, Result};
use crate::sql;

/// The rows held so far: their COPY text end to end in `file`, and where each packet's run of
/// each table is.
pub(super) struct HeldRows {
    file: BufWriter<File>,
    runs: Vec<Run>,
}

struct Run {
    table: &'static TableDef,
    /// The packet's place in the batch.
    seq: u32,
    at: u64,
    len: u64,
    rows: u64,
}

impl HeldRows {
    /// Holds rows in a nameless temporary file.
    pub(super) fn new() -> io::Result<HeldRows> {
        Ok(HeldRows {
            file: BufWriter::with_capacity(1 << 20, crate::temp::nameless_file()?),
            runs: Vec::new(),
        })
    }

    /// Holds one row (its columns' COPY text, one line) of `table` from packet `seq`.
    pub(super) fn hold(
        &mut self,
        table: &'static TableDef,
        seq: u32,
        columns: &[u8],
    ) -> io::Result<()> {
        self.file.write_all(columns)?;
        let len = columns.len() as u64;
        let end = self.runs.last().map_or(0, |run| run.at + run.len);
        match self.runs.last_mut() {
            Some(run) if run.table.id == table.id && run.seq == seq => {
                run.len += len;
                run.rows += 1;
            }
            _ => self.runs.push(Run {
                table,
                seq,
                at: end,
                len,
                rows: 1,
            }),
        }
        Ok(())
    }

    /// Copies every held row into its table: one COPY per table (in the order they were first
    /// held), its runs in packet order. A COPY that fails (a key the table holds), like a file
    /// that cannot be written, is `DirectCopyRefused`: the batch then runs again with every line
    /// through the stage.
    pub(super) fn copy_into_tables(self, tx: &mut Transaction, what: &str) -> Result<()> {
        let HeldRows { file, mut runs } = self;
        // A full disk here, as in `hold`, sends the rows through the stage instead.
        let file = file.into_inner().map_err(|e| Error::DirectCopyRefused {
            what: what.to_string(),
            table: "their tables".into(),
            reason: format!("cannot hold the rows: {}", e.error()),
        })?;
        let mut tables: Vec<u32> = Vec::new();
        for run in &runs {
            if !tables.contains(&run.table.id) {
                tables.push(run.table.id);
            }
        }
        runs.sort_by_key(|run| (tables.iter().position(|&id| id == run.table.id), run.seq));
        let mut buf = vec![0u8; 1 << 20];
        for table_runs in runs.chunk_by(|a, b| a.table.id == b.table.id) {
            let table = table_runs[0].table;
            let name = table.display_name();
            let refused = |reason: String| Error::DirectCopyRefused {
                what: what.to_string(),
                table: name.clone(),
                reason,
            };
            let mut writer = tx
                .copy_in(&sql::for_table("import_copy", table))
                .map_err(|e| refused(describe_db(&e)))?;
            for run in table_runs {
                let (mut at, end) = (run.at, run.at + run.len);
                while at < end {
                    let n = (end - at).min(buf.len() as u64) as usize;
                    file.read_exact_at(&mut buf[..n], at)
                        .map_err(|source| Error::Io {
                            context: format!("{what}: cannot read the rows held for {name}"),
                            source,
                        })?;
                    writer
                        .write_all(&buf[..n])
                        .map_err(|e| refused(describe_copy_write(&e)))?;
                    at += n as u64;
                }
            }
            writer.finish().map_err(|e| refused(describe_db(&e)))?;
            let rows: u64 = table_runs.iter().map(|run| run.rows).sum();
            tracing::debug!("{what}: {rows} rows copied straight into {name}, after the merge");
        }
        Ok(())
    }
}

//! The lines of one transaction's packets, in the order they are staged, read as one stream.
//!
//! Each line is checked through the codec of its packet's layout and turned into its staging
//! form, or left out when a newer packet of the batch already staged its key. Read as one
//! stream, a table's lines from consecutive packets go through one COPY: a COPY per packet
//! made client and server wait for each other at every packet's end (a week of hourly packets:
//! 168 COPYs of one table).

use std::io::{BufRead, Write};

use crate::def::{SchemaDef, TableDef};
use crate::error::{Error, Result};
use crate::index::Entry;
use crate::packet::PacketReader;
use crate::DecodeError;

use super::newest::NewestFirst;
use super::rows::{check_line, stage_line};

/// Opens a packet's reader, by its place in the transaction (`seq`), when its turn comes: only
/// one packet's buffers are in memory at a time.
pub(super) type Open<'a, R> = Box<dyn FnMut(u32) -> Result<PacketReader<R>> + 'a>;

/// A line to stage (its staging form written): of which table, from which packet (its `seq`).
#[derive(Clone, Copy)]
pub(super) struct StagedLine {
    pub table: &'static TableDef,
    pub seq: u32,
}

pub(super) struct PacketLines<'a, R> {
    layout: &'static SchemaDef,
    reload: &'a [u32],
    /// In staging order: each packet and its place in the transaction.
    packets: Vec<(&'a Entry, u32)>,
    open: Open<'a, R>,
    /// The reader of `packets[next - 1]`, while it has lines left.
    current: Option<PacketReader<R>>,
    next: usize,
    /// Lines read of each packet, staged or left out, by `seq`.
    lines: Vec<u64>,
}

impl<'a, R: BufRead> PacketLines<'a, R> {
    /// `packets` in the order they are staged (each with its `seq`, below their count); `open`
    /// gives each one's reader, past its header.
    pub fn new(
        layout: &'static SchemaDef,
        reload: &'a [u32],
        packets: Vec<(&'a Entry, u32)>,
        open: Open<'a, R>,
    ) -> PacketLines<'a, R> {
        let lines = vec![0; packets.len()];
        PacketLines {
            layout,
            reload,
            packets,
            open,
            current: None,
            next: 0,
            lines,
        }
    }

    /// Lines read of the packet `seq`.
    pub fn lines_of(&self, seq: u32) -> u64 {
        self.lines[seq as usize]
    }

    /// Reads the next line to stage, writing its staging form into `out`; a line a newer
    /// packet superseded is checked, counted in `tally` and passed over. None after the last
    /// packet's trailer.
    pub fn next(
        &mut self,
        out: &mut Vec<u8>,
        mut newest: Option<&mut NewestFirst>,
        tally: &crate::tally::Tally,
    ) -> Result<Option<StagedLine>> {
        loop {
            let reader = match &mut self.current {
                Some(reader) => reader,
                None => {
                    let Some(&(_, seq)) = self.packets.get(self.next) else {
                        return Ok(None);
                    };
                    let reader = (self.open)(seq)?;
                    self.next += 1;
                    self.current.insert(reader)
                }
            };
            let (entry, seq) = self.packets[self.next - 1];
            let next = next_line(
                self.layout,
                self.reload,
                entry,
                reader,
                seq,
                out,
                newest.as_deref_mut(),
            )?;
            match next {
                Next::Staged(table) => {
                    self.lines[seq as usize] += 1;
                    return Ok(Some(StagedLine { table, seq }));
                }
                Next::Superseded { bytes } => {
                    self.lines[seq as usize] += 1;
                    tally.add(1, bytes);
                }
                // The index's count must be the packet's own: batches are bounded by it.
                Next::End if reader.rows() != entry.rows => {
                    return Err(Error::PacketMismatch {
                        serial: entry.serial,
                        path: entry.path.clone(),
                        reason: format!(
                            "it holds {} rows, but the index lists it with {}",
                            reader.rows(),
                            entry.rows
                        ),
                    })
                }
                Next::End => self.current = None,
            }
        }
    }
}

/// What [`next_line`] read.
enum Next {
    /// A line of this table, its staging form written.
    Staged(&'static TableDef),
    /// A line whose key a newer packet of the batch staged: checked, not staged.
    Superseded { bytes: u64 },
    /// The trailer.
    End,
}

/// Reads the next data line, checks it through the codec (of the packet's layout) and writes
/// its staging form into `out`, unless `newest` says a newer packet superseded it. A reloaded
/// table has ADD lines only.
fn next_line<R: BufRead>(
    schema: &'static SchemaDef,
    reload: &[u32],
    entry: &Entry,
    reader: &mut PacketReader<R>,
    seq: u32,
    out: &mut Vec<u8>,
    newest: Option<&mut NewestFirst>,
) -> Result<Next> {
    let mut fields = Vec::new();
    let line = match reader.next_line(&mut fields) {
        Ok(Some(line)) => line,
        Ok(None) => return Ok(Next::End),
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
    if line.op != crate::packet::Op::Add && reload.contains(&table.id) {
        return Err(decode_err(DecodeError::new(format!(
            "a {} line for {}, which the packet reloads (only ADD lines may reload a table)",
            line.op.as_str(),
            table.display_name()
        ))));
    }
    check_line(table, line.op, line.values)
        .map_err(|e| decode_err(e.with_table(table.display_name())))?;
    if let Some(newest) = newest {
        let superseded = newest
            .superseded(table, line.op, line.values, seq)
            .map_err(|_| Error::BatchOverBudget {
                what: format!("packet {} ({})", entry.serial, entry.path),
                budget: crate::faults::batch_key_budget(),
            })?;
        if superseded {
            let bytes = line.values.iter().map(|v| v.len() as u64 + 1).sum();
            return Ok(Next::Superseded { bytes });
        }
    }
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{seq}\t");
    stage_line(table, line.op, line.values, out);
    Ok(Next::Staged(table))
}

//! Typed changes: a packet read as the changes of one table, decoded into its derived row
//! type, without a database.
//!
//! ```no_run
//! # use replgen_format::changes::{changes_of_file, Op};
//! # #[derive(replgen_format::Replicated)]
//! # #[replicated(schema = "tests/codec_schema.yaml", table = "musicbrainz.recording")]
//! # struct Recording { id: i32, gid: replgen_format::types::Uuid, name: String,
//! #   artist_credit: i32, length: Option<i32>, comment: String, edits_pending: i32,
//! #   last_updated: Option<replgen_format::types::TimestampTz>, video: bool }
//! for change in changes_of_file::<Recording>("replication-000000042.gz".as_ref())? {
//!     let change = change?;
//!     match change.op {
//!         Op::Add | Op::Update => println!("{}: {}", change.rowid, change.row.unwrap().name),
//!         Op::Remove => println!("{} removed", change.rowid),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::codec::{is_null, unescape_text, DecodeError, Value};
use crate::def::Replicated;
use crate::packet::{Limits, PacketError, PacketHeader, PacketReader};
use crate::types::TimestampTz;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;

pub use crate::packet::Op;

/// One change of a row of `T`'s table.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    pub op: Op,
    /// The packet's `rowid`: the key as text (a record text such as `(42,"a b")` for a
    /// composite key), unescaped.
    pub rowid: String,
    /// When the row last changed, as the capture trigger recorded it.
    pub timestamp: TimestampTz,
    /// The key values as text, in key order.
    pub key: Vec<String>,
    /// The row for ADD and UPDATE; `None` for REMOVE.
    pub row: Option<T>,
}

/// The changes of `T`'s table in a decompressed packet, in packet order; other tables' lines
/// are skipped. Every error names the packet line; reading stops after the first error.
pub fn changes_of<T: Replicated, R: BufRead>(packet: R) -> Changes<T, R> {
    match PacketReader::new(packet, Limits::default()) {
        Ok(reader) => Changes {
            reader: Some(reader),
            finished: false,
            pending: None,
            _row: PhantomData,
        },
        Err(e) => Changes {
            reader: None,
            finished: true,
            pending: Some(packet_error(e, 0)),
            _row: PhantomData,
        },
    }
}

/// [`changes_of`] for a gzip-compressed packet file.
pub fn changes_of_file<T: Replicated>(
    path: &Path,
) -> std::io::Result<Changes<T, BufReader<flate2::read::MultiGzDecoder<std::fs::File>>>> {
    let file = std::fs::File::open(path)?;
    Ok(changes_of(BufReader::new(
        flate2::read::MultiGzDecoder::new(file),
    )))
}

/// The iterator [`changes_of`] returns.
pub struct Changes<T, R> {
    /// Kept after the end, for [`Changes::header`]; `None` only when the header was bad.
    reader: Option<PacketReader<R>>,
    /// Whether the end of the packet or an error was reached.
    finished: bool,
    /// An error to yield before ending (a bad header).
    pending: Option<DecodeError>,
    _row: PhantomData<fn() -> T>,
}

impl<T, R: BufRead> Changes<T, R> {
    /// The packet's header, when it was read (also after the iteration ended).
    pub fn header(&self) -> Option<&PacketHeader> {
        self.reader.as_ref().map(|r| r.header())
    }
}

fn packet_error(e: PacketError, line_no: u64) -> DecodeError {
    match e {
        PacketError::Format { line, reason } => DecodeError::new(reason).with_line(line),
        other => DecodeError::new(other.to_string()).with_line(line_no),
    }
}

impl<T: Replicated, R: BufRead> Iterator for Changes<T, R> {
    type Item = Result<Change<T>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.finished {
            return None;
        }
        let reader = self.reader.as_mut()?;
        loop {
            let mut fields = Vec::new();
            let result = match reader.next_line(&mut fields) {
                Ok(None) => None,
                Ok(Some(line)) if line.table_id != T::TABLE.id => continue,
                Ok(Some(line)) => Some(
                    decode_line::<T>(line.op, line.rowid, line.timestamp, line.values)
                        .map_err(|e| e.with_line(line.line_no)),
                ),
                Err(e) => {
                    let line_no = reader.line_no();
                    Some(Err(packet_error(e, line_no)))
                }
            };
            if !matches!(result, Some(Ok(_))) {
                // End of packet or an error: nothing more to read.
                self.finished = true;
            }
            return result;
        }
    }
}

fn key_text(raw: &[u8]) -> Result<String, DecodeError> {
    if is_null(raw) {
        return Err(DecodeError::new("NULL in a key column"));
    }
    unescape_text(raw)
}

fn decode_line<T: Replicated>(
    op: Op,
    rowid: &[u8],
    timestamp: &[u8],
    values: &[&[u8]],
) -> Result<Change<T>, DecodeError> {
    let table = T::TABLE;
    let rowid = unescape_text(rowid)
        .map_err(|e| e.with_column("rowid").with_table(table.display_name()))?;
    let timestamp = TimestampTz::decode(timestamp).map_err(|e| {
        e.with_column("timestamp")
            .with_table(table.display_name())
            .with_key(&rowid)
    })?;
    let (key, row) = match op {
        Op::Add | Op::Update => {
            let row = T::decode_fields(values).map_err(|e| e.with_key(&rowid))?;
            let key = table
                .key
                .iter()
                .map(|&i| key_text(values[i]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.with_table(table.display_name()).with_key(&rowid))?;
            (key, Some(row))
        }
        Op::Remove => {
            (table.check_key)(values).map_err(|e| e.with_key(&rowid))?;
            let key = values
                .iter()
                .map(|v| key_text(v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.with_table(table.display_name()).with_key(&rowid))?;
            (key, None)
        }
    };
    Ok(Change {
        op,
        rowid,
        timestamp,
        key,
        row,
    })
}

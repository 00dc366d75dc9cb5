//! One data line of a packet or an export, checked through the table's typed codec and
//! written in the staging form the merge reads.

use crate::codec::DecodeError;
use crate::def::TableDef;
use crate::packet::Op;

/// Checks one data line's fields through the table's typed codec.
pub(super) fn check_line(table: &TableDef, op: Op, values: &[&[u8]]) -> Result<(), DecodeError> {
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
pub(super) fn stage_line(table: &TableDef, op: Op, values: &[&[u8]], out: &mut Vec<u8>) {
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

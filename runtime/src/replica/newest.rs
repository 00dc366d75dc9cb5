//! A batch staged newest packet first: a line whose key a newer packet of the batch already
//! staged is superseded (that packet's line replaces or removes the row anyway), so it is
//! checked but not staged. A mirror a week behind changes many rows several times; each is then
//! staged and merged once, as in the one packet the same changes would have made.
//!
//! Keys are compared as the packet's text of the key fields. The same text is the same key, so
//! dropping a superseded line never changes the result. Different texts may still be one key to
//! the replica (`1.0` and `1.00` in a numeric key, two spellings under a case-insensitive
//! collation), so the merge still keeps only the newest staged version of each key, except for
//! keys whose text is canonical (see [`canonical_key`]).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::def::TableDef;
use crate::packet::Op;

/// Bookkeeping bytes of one remembered key beyond its text (the table's slot and control byte
/// at its load factor), so the budget bounds the memory actually used.
const ENTRY_BYTES: usize = 16;

/// The keys staged so far, with the packet (its place in the batch) whose line staged each.
pub(super) struct NewestFirst {
    /// Every remembered key's text, end to end (one allocation, not one per key).
    texts: Vec<u8>,
    seen: HashTable<Seen>,
    /// Seeded per process, so a packet cannot be made of keys that collide.
    hasher: foldhash::fast::RandomState,
    budget: usize,
    key: Vec<u8>,
    /// Lines found superseded so far.
    pub(super) superseded: u64,
}

#[derive(Clone, Copy)]
struct Seen {
    /// Where its text is in `texts`, and how long.
    at: u32,
    len: u32,
    seq: u32,
}

/// The keys of a batch took more memory than the budget: the batch is staged again in packet
/// order, without dropping lines.
#[derive(Debug)]
pub(super) struct OverBudget;

impl NewestFirst {
    /// Remembers at most `budget` bytes of keys (at most 4 GiB); `lines`: about how many the
    /// batch has (its index entries say), so the table is sized once.
    pub(super) fn new(budget: usize, lines: u64) -> NewestFirst {
        let budget = budget.min(u32::MAX as usize);
        let slots = (lines as usize).min(budget / ENTRY_BYTES);
        NewestFirst {
            texts: Vec::new(),
            seen: HashTable::with_capacity(slots),
            hasher: foldhash::fast::RandomState::default(),
            budget,
            key: Vec::new(),
            superseded: 0,
        }
    }

    /// Whether a newer packet than `seq` staged this line's key (`values`: the line's fields,
    /// of `op`); otherwise the key is remembered as staged by `seq` (unless `seq` is 0, the
    /// batch's oldest packet, which no line comes after). Two lines of one packet never
    /// supersede each other (a packet has one line per key; a packet that broke that would be
    /// merged as without batches).
    pub(super) fn superseded(
        &mut self,
        table: &TableDef,
        op: Op,
        values: &[&[u8]],
        seq: u32,
    ) -> Result<bool, OverBudget> {
        self.key.clear();
        self.key.extend_from_slice(&table.id.to_le_bytes());
        for (i, &column) in table.key.iter().enumerate() {
            // A REMOVE line carries the key fields alone, in key order.
            let field = if op == Op::Remove {
                values[i]
            } else {
                values[column]
            };
            // COPY text escapes tabs, so the fields cannot run into each other.
            self.key.push(b'\t');
            self.key.extend_from_slice(field);
        }
        let (texts, key) = (&self.texts, &self.key);
        let text = |s: &Seen| &texts[s.at as usize..][..s.len as usize];
        let hash = self.hasher.hash_one(key.as_slice());
        if let Some(by) = self.seen.find(hash, |s| text(s) == key.as_slice()) {
            let superseded = by.seq > seq;
            self.superseded += u64::from(superseded);
            return Ok(superseded);
        }
        if seq == 0 {
            return Ok(false);
        }
        let used = self.texts.len() + key.len() + (self.seen.len() + 1) * ENTRY_BYTES;
        if used > self.budget {
            return Err(OverBudget);
        }
        let seen = Seen {
            at: self.texts.len() as u32,
            len: key.len() as u32,
            seq,
        };
        self.texts.extend_from_slice(key);
        let (texts, hasher) = (&self.texts, &self.hasher);
        self.seen.insert_unique(hash, seen, |s| {
            hasher.hash_one(&texts[s.at as usize..][..s.len as usize])
        });
        Ok(false)
    }
}

/// Whether two texts of `table`'s key that differ always name two keys: every key column is an
/// integer or a uuid, whose text the master writes in one spelling only. Such a table's staged
/// rows are then one per key after [`NewestFirst`], and the merge need not prune them.
pub(super) fn canonical_key(table: &TableDef) -> bool {
    table
        .key_columns()
        .all(|c| matches!(c.sql_type, "smallint" | "integer" | "bigint" | "uuid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::ColumnDef;

    fn table(id: u32, key: &'static [usize], types: [&'static str; 2]) -> TableDef {
        let columns: &'static [ColumnDef] = Box::leak(Box::new([
            ColumnDef {
                name: "a",
                sql_type: types[0],
                nullable: false,
                renamed_from: None,
            },
            ColumnDef {
                name: "b",
                sql_type: types[1],
                nullable: true,
                renamed_from: None,
            },
        ]));
        TableDef {
            id,
            schema: "public",
            name: "t",
            columns,
            key,
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        }
    }

    #[test]
    fn a_newer_packets_line_supersedes_an_older_one_of_the_same_key_only() {
        let t = table(1, &[0], ["integer", "text"]);
        let other = table(2, &[0], ["integer", "text"]);
        let mut newest = NewestFirst::new(1 << 20, 16);
        // Packet 3 updates key 7; packet 1 added it and removed key 8.
        assert!(!newest.superseded(&t, Op::Update, &[b"7", b"x"], 3).unwrap());
        assert!(newest.superseded(&t, Op::Add, &[b"7", b"old"], 1).unwrap());
        assert!(!newest.superseded(&t, Op::Remove, &[b"8"], 1).unwrap());
        // The same key text in another table is another key.
        assert!(!newest
            .superseded(&other, Op::Add, &[b"7", b"x"], 1)
            .unwrap());
        // Within one packet nothing is dropped.
        assert!(!newest.superseded(&t, Op::Remove, &[b"7"], 3).unwrap());
        // A REMOVE's key fields are found like an ADD's.
        assert!(newest.superseded(&t, Op::Add, &[b"8", b"y"], 0).unwrap());
    }

    #[test]
    fn composite_keys_compare_every_field_and_fields_do_not_run_together() {
        // Key (b, a): an ADD line's fields are (a, b), a REMOVE line's (b, a).
        let t = table(1, &[1, 0], ["integer", "text"]);
        let mut newest = NewestFirst::new(1 << 20, 16);
        assert!(!newest.superseded(&t, Op::Remove, &[b"x", b"1"], 2).unwrap());
        assert!(!newest.superseded(&t, Op::Add, &[b"11", b"x1"], 2).unwrap());
        assert!(newest.superseded(&t, Op::Add, &[b"1", b"x"], 1).unwrap());
        assert!(!newest.superseded(&t, Op::Add, &[b"2", b"x"], 1).unwrap());
        assert!(!newest
            .superseded(&t, Op::Update, &[b"1", b"x11"], 1)
            .unwrap());
        assert!(!newest
            .superseded(&t, Op::Update, &[b"11", b"x"], 1)
            .unwrap());
        assert!(newest
            .superseded(&t, Op::Remove, &[b"x1", b"11"], 0)
            .unwrap());
    }

    #[test]
    fn keys_beyond_the_budget_are_refused() {
        let t = table(1, &[0], ["integer", "text"]);
        let mut newest = NewestFirst::new(3 * (4 + 1 + 2 + ENTRY_BYTES), 0);
        for k in [b"10", b"11", b"12"] {
            assert!(!newest.superseded(&t, Op::Remove, &[k], 1).unwrap());
        }
        assert!(newest.superseded(&t, Op::Remove, &[b"13"], 1).is_err());
    }

    #[test]
    fn only_integer_and_uuid_keys_are_canonical() {
        assert!(canonical_key(&table(1, &[0], ["bigint", "numeric"])));
        assert!(canonical_key(&table(1, &[0, 1], ["uuid", "smallint"])));
        assert!(!canonical_key(&table(1, &[0, 1], ["integer", "text"])));
        assert!(!canonical_key(&table(1, &[1], ["integer", "numeric"])));
        assert!(!canonical_key(&table(1, &[0], ["integer[]", "text"])));
    }
}

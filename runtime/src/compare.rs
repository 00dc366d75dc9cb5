//! Table-by-table comparison of two databases' replicated tables, computed by PostgreSQL: a
//! digest per table, then, for a table that differs, a digest per bucket of keys, and the keys
//! and row hashes of a few differing buckets only, so that some of the differing keys can be
//! named without reading either table into memory.

use std::collections::{BTreeMap, BTreeSet};

use postgres::Client;

use crate::db;
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::sql;

/// How many differing keys are named per table, at most.
pub const KEYS_NAMED: usize = 10;

/// How one key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDifference {
    OnlyFirst,
    OnlySecond,
    Values,
}

impl KeyDifference {
    pub fn describe(self) -> &'static str {
        match self {
            KeyDifference::OnlyFirst => "only on the first database",
            KeyDifference::OnlySecond => "only on the second database",
            KeyDifference::Values => "different values",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Difference {
    pub table: String,
    pub first_rows: i64,
    pub second_rows: i64,
    /// Some of the keys that differ (their text form), at most [`KEYS_NAMED`].
    pub keys: Vec<(String, KeyDifference)>,
    /// More keys differ than `keys` names.
    pub more_keys: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub tables: usize,
    pub rows: i64,
    pub differences: Vec<Difference>,
}

const FIRST: &str = "the first database (--db)";
const SECOND: &str = "the second database (--replica)";

fn in_db<T>(which: &'static str, result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::CompareDatabase {
        which,
        source: Box::new(e),
    })
}

/// (row count, digest) of every replicated table, in table order.
pub fn digests(db: &str, schema: &SchemaDef) -> Result<Vec<(i64, String)>> {
    table_digests(&mut db::connect(db)?, schema)
}

fn table_digests(client: &mut Client, schema: &SchemaDef) -> Result<Vec<(i64, String)>> {
    schema
        .tables
        .iter()
        .map(|t| {
            client
                .query_one(&sql::for_table("table_digest", t), &[])
                .map(|row| (row.get(0), row.get(1)))
                .context(|| format!("cannot read {}", t.display_name()))
        })
        .collect()
}

type Buckets = BTreeMap<i32, (i64, String)>;

fn buckets(client: &mut Client, t: &TableDef) -> Result<Buckets> {
    Ok(client
        .query(&sql::for_table("table_buckets", t), &[])
        .context(|| format!("cannot read {}", t.display_name()))?
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect())
}

fn bucket_rows(
    client: &mut Client,
    t: &TableDef,
    chosen: &[i32],
) -> Result<BTreeMap<String, String>> {
    Ok(client
        .query(&sql::for_table("bucket_rows", t), &[&chosen])
        .context(|| format!("cannot read {}", t.display_name()))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Names up to [`KEYS_NAMED`] keys of a table that differ: every differing bucket holds at
/// least one, so reading the rows of that many buckets is enough.
fn differing_keys(
    a: &mut Client,
    b: &mut Client,
    t: &TableDef,
) -> Result<(Vec<(String, KeyDifference)>, bool)> {
    let first = in_db(FIRST, buckets(a, t))?;
    let second = in_db(SECOND, buckets(b, t))?;
    let all: BTreeSet<i32> = first.keys().chain(second.keys()).copied().collect();
    let differing: Vec<i32> = all
        .into_iter()
        .filter(|k| first.get(k) != second.get(k))
        .collect();
    let chosen = &differing[..differing.len().min(KEYS_NAMED)];
    let rows_a = in_db(FIRST, bucket_rows(a, t, chosen))?;
    let rows_b = in_db(SECOND, bucket_rows(b, t, chosen))?;
    let mut keys: Vec<(String, KeyDifference)> = Vec::new();
    let names: BTreeSet<&String> = rows_a.keys().chain(rows_b.keys()).collect();
    for key in names {
        let how = match (rows_a.get(key), rows_b.get(key)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => KeyDifference::Values,
            (Some(_), None) => KeyDifference::OnlyFirst,
            (None, _) => KeyDifference::OnlySecond,
        };
        keys.push((key.clone(), how));
    }
    let more = keys.len() > KEYS_NAMED || differing.len() > chosen.len();
    keys.truncate(KEYS_NAMED);
    Ok((keys, more))
}

/// Compares in the layout of the first database's installed capture when it has one this
/// binary knows (a master between schema versions), else in the binary's newest layout.
pub fn compare(first: &str, second: &str, binary: &'static SchemaDef) -> Result<Report> {
    let mut a = in_db(FIRST, db::connect(first))?;
    let mut b = in_db(SECOND, db::connect(second))?;
    let schema = crate::master::installed_layout(&mut a, binary).unwrap_or(binary);
    let da = in_db(FIRST, table_digests(&mut a, schema))?;
    let db = in_db(SECOND, table_digests(&mut b, schema))?;
    let mut differences = Vec::new();
    for (t, (x, y)) in schema.tables.iter().zip(da.iter().zip(&db)) {
        if x == y {
            continue;
        }
        let (keys, more_keys) = differing_keys(&mut a, &mut b, t)?;
        differences.push(Difference {
            table: t.display_name(),
            first_rows: x.0,
            second_rows: y.0,
            keys,
            more_keys,
        });
    }
    Ok(Report {
        tables: schema.tables.len(),
        rows: da.iter().map(|d| d.0).sum(),
        differences,
    })
}

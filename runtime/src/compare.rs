//! Table-by-table comparison of two databases' replicated tables, computed by PostgreSQL.

use crate::db;
use crate::def::SchemaDef;
use crate::error::{Context, Result};
use crate::sql;

#[derive(Debug, Clone)]
pub struct Difference {
    pub table: String,
    pub first_rows: i64,
    pub second_rows: i64,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub tables: usize,
    pub rows: i64,
    pub differences: Vec<Difference>,
}

/// (row count, digest) of every replicated table, in table order.
pub fn digests(db: &str, schema: &SchemaDef) -> Result<Vec<(i64, String)>> {
    let mut client = db::connect(db)?;
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

pub fn compare(first: &str, second: &str, schema: &SchemaDef) -> Result<Report> {
    let a = digests(first, schema)?;
    let b = digests(second, schema)?;
    let differences = schema
        .tables
        .iter()
        .zip(a.iter().zip(&b))
        .filter(|(_, (x, y))| x != y)
        .map(|(t, (x, y))| Difference {
            table: t.display_name(),
            first_rows: x.0,
            second_rows: y.0,
        })
        .collect();
    Ok(Report {
        tables: schema.tables.len(),
        rows: a.iter().map(|d| d.0).sum(),
        differences,
    })
}

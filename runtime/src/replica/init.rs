//! `mirror init`: creates a new mirror's replicated tables (and the schemas they live in) from the
//! layout compiled into the binary, in one transaction, after checking that none of them exists
//! and that every type they name does.

use std::collections::BTreeMap;

use postgres::Client;

use super::ddl;
use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::sql;

/// What `init` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSummary {
    pub tables: usize,
    /// The schemas (namespaces) it created, sorted.
    pub schemas: Vec<String>,
}

/// Creates every replicated table of `schema` in one transaction. Refuses, creating nothing, when
/// a relation already holds one of the tables' names ([`Error::InitTablesExist`]) or a column's
/// type does not exist in the database ([`Error::InitMissingTypes`]).
pub fn init(client: &mut Client, schema: &SchemaDef) -> Result<InitSummary> {
    let mut tx = client
        .transaction()
        .context(|| "cannot begin a transaction".into())?;
    let schemas: Vec<&str> = schema.tables.iter().map(|t| t.schema).collect();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name).collect();
    // Each element type once, with the columns that use it (as people write them).
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in schema.tables {
        for c in t.columns {
            users
                .entry(ddl::element_type(c.sql_type))
                .or_default()
                .push(format!("{}.{}", t.display_name(), c.name));
        }
    }
    let types: Vec<&str> = users.keys().copied().collect();
    let rows = tx
        .query(&sql::plain("init_survey"), &[&schemas, &names, &types])
        .context(|| "cannot read the catalog".into())?;
    let (mut existing, mut missing_schemas, mut missing_types) = (vec![], vec![], vec![]);
    for row in rows {
        let (kind, s, n): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        match kind.as_str() {
            "table" => existing.push(format!("{s}.{n}")),
            "schema" => missing_schemas.push(s),
            _ => missing_types.push(format!("{n} (used by {})", users[n.as_str()].join(", "))),
        }
    }
    if !existing.is_empty() {
        return Err(Error::InitTablesExist { tables: existing });
    }
    if !missing_types.is_empty() {
        return Err(Error::InitMissingTypes {
            types: missing_types,
        });
    }
    for s in &missing_schemas {
        tx.batch_execute(&ddl::create_schema(s))
            .context(|| format!("cannot create schema {s}"))?;
    }
    for t in schema.tables {
        tx.batch_execute(&ddl::create_table(t))
            .context(|| format!("cannot create table {}", t.display_name()))?;
    }
    tx.commit()
        .context(|| "cannot commit the new tables".into())?;
    Ok(InitSummary {
        tables: schema.tables.len(),
        schemas: missing_schemas,
    })
}

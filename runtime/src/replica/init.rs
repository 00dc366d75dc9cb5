//! `mirror init`: creates a new mirror's replicated tables (and the schemas they live in) from the
//! layout compiled into the binary, in one transaction, after checking that none of them exists
//! and that every type they name does.

use std::collections::BTreeMap;

use postgres::Client;

use super::ddl;
use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::sql;
use replgen_schema::capture;

/// What `init` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSummary {
    pub tables: usize,
    /// The schemas (namespaces) it created, sorted.
    pub schemas: Vec<String>,
    /// How many enum types (of the layout's definitions) it created.
    pub enums: usize,
}

/// Creates every replicated table of `schema` in one transaction, with the schemas they live in
/// and the enum types the layout defines, when missing. Refuses, committing nothing, when a
/// relation already holds one of the tables' names ([`Error::InitTablesExist`]), a defined enum
/// exists without all its labels ([`Error::InitEnumDiffers`]), or a column's type does not exist
/// and the layout does not define it ([`Error::InitMissingTypes`]).
pub fn init(client: &mut Client, schema: &SchemaDef) -> Result<InitSummary> {
    let mut created_schemas: Vec<String> = Vec::new();
    let mut tx = client
        .transaction()
        .context(|| "cannot begin a transaction".into())?;
    let schemas: Vec<&str> = schema.tables.iter().map(|t| t.schema).collect();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name).collect();
    let all_schemas: Vec<&str> = schemas
        .iter()
        .copied()
        .chain(schema.enums.iter().map(|e| e.schema))
        .collect();
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
    let survey = sql::plain("init_survey");
    let rows = tx
        .query(&survey, &[&schemas, &names, &types, &all_schemas])
        .context(|| "cannot read the catalog".into())?;
    let (mut existing, mut missing_schemas) = (vec![], vec![]);
    for row in rows {
        let (kind, s, n): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        match kind.as_str() {
            "table" => existing.push(format!("{s}.{n}")),
            "schema" => missing_schemas.push(s),
            _ => {}
        }
    }
    if !existing.is_empty() {
        return Err(Error::InitTablesExist { tables: existing });
    }
    // Everything below is undone by the refusals that follow: the transaction is never committed.
    for &s in &all_schemas {
        if !missing_schemas.iter().any(|m| m == s) {
            continue;
        }
        missing_schemas.retain(|m| m != s);
        created_schemas.push(s.to_string());
        tx.batch_execute(&ddl::create_schema(s))
            .context(|| format!("cannot create schema {s}"))?;
    }
    let mut enums_created = 0;
    for e in schema.enums {
        let qualified = capture::qualified_name(e.schema, e.name);
        let live = tx
            .query_opt(&sql::plain("enum_labels"), &[&qualified])
            .context(|| format!("cannot look up type {}.{}", e.schema, e.name))?;
        match live {
            None => {
                tx.batch_execute(&ddl::create_enum(e))
                    .context(|| format!("cannot create type {}.{}", e.schema, e.name))?;
                enums_created += 1;
            }
            Some(row) => {
                let (kind, labels): (String, Vec<String>) = (row.get(0), row.get(1));
                let missing: Vec<&str> = e
                    .labels
                    .iter()
                    .copied()
                    .filter(|l| !labels.iter().any(|x| x == l))
                    .collect();
                if kind != "e" || !missing.is_empty() {
                    return Err(Error::InitEnumDiffers {
                        name: format!("{}.{}", e.schema, e.name),
                        reason: if kind != "e" {
                            "it exists but is not an enum".into()
                        } else {
                            format!("it lacks the labels {}", missing.join(", "))
                        },
                    });
                }
            }
        }
    }
    let rows = tx
        .query(&survey, &[&schemas, &names, &types, &all_schemas])
        .context(|| "cannot read the catalog".into())?;
    let missing_types: Vec<String> = rows
        .iter()
        .filter(|r| r.get::<_, String>(0) == "type")
        .map(|r| {
            let n: String = r.get(2);
            format!("{n} (used by {})", users[n.as_str()].join(", "))
        })
        .collect();
    if !missing_types.is_empty() {
        return Err(Error::InitMissingTypes {
            types: missing_types,
        });
    }
    for t in schema.tables {
        tx.batch_execute(&ddl::create_table(t))
            .context(|| format!("cannot create table {}", t.display_name()))?;
    }
    tx.commit()
        .context(|| "cannot commit the new tables".into())?;
    created_schemas.sort();
    Ok(InitSummary {
        tables: schema.tables.len(),
        schemas: created_schemas,
        enums: enums_created,
    })
}

//! The live tables against the layout this binary was generated for: checked by `install` and
//! by every cut after it locked the tables, so a column added, dropped or re-typed on the master
//! without a new layout is refused with table and column named, instead of being silently left
//! out or published in a form every replica then refuses forever.

use postgres::GenericClient;

use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::sql;

/// Refuses, naming every problem, unless each replicated table exists with the layout's
/// columns (type as PostgreSQL resolves the layout's type name; NOT NULL where the layout says
/// the column is never NULL) and the layout's primary key.
pub fn check(client: &mut impl GenericClient, schema: &SchemaDef) -> Result<()> {
    let (mut schemas, mut tables, mut columns, mut types) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for table in schema.tables {
        for column in table.columns {
            schemas.push(table.schema);
            tables.push(table.name);
            columns.push(column.name);
            types.push(column.sql_type);
        }
    }
    let rows = client
        .query(
            &sql::plain("live_columns"),
            &[&schemas, &tables, &columns, &types],
        )
        .context(|| "cannot read the replicated tables' columns from the catalog".into())?;
    let mut rows = rows.iter();
    let mut problems = Vec::new();
    for table in schema.tables {
        let name = table.display_name();
        let mut key_differs = false;
        let mut missing_table = false;
        for (i, column) in table.columns.iter().enumerate() {
            let row = rows.next().expect("one row per replicated column");
            let (table_exists, column_exists): (bool, bool) = (row.get(4), row.get(5));
            if !table_exists {
                missing_table = true;
                continue;
            }
            if !column_exists {
                problems.push(format!("{name}: column {} does not exist", column.name));
                continue;
            }
            if !row.get::<_, bool>(6) {
                problems.push(format!(
                    "{name}.{}: the layout's type {} does not exist in this database",
                    column.name, column.sql_type
                ));
            } else if !row.get::<_, bool>(8) {
                problems.push(format!(
                    "{name}.{}: the column is {}, but the layout says {}",
                    column.name,
                    row.get::<_, String>(7),
                    column.sql_type
                ));
            }
            if !column.nullable && !row.get::<_, bool>(9) {
                problems.push(format!(
                    "{name}.{}: the column allows NULL, but the layout says it never is NULL",
                    column.name
                ));
            }
            let live_position = row.get::<_, Option<i32>>(10).map(|p| p as usize);
            let spec_position = table.key.iter().position(|&k| k == i).map(|p| p + 1);
            let live_key_len = row.get::<_, i32>(11) as usize;
            key_differs |= live_position != spec_position || live_key_len != table.key.len();
        }
        if missing_table {
            problems.push(format!("table {name} does not exist"));
        } else if key_differs {
            let key: Vec<&str> = table.key_columns().map(|c| c.name).collect();
            problems.push(format!(
                "{name}: its primary key is not the layout's ({})",
                key.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::LiveTablesDiffer { problems })
    }
}

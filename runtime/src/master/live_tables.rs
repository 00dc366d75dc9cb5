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
    check_tables(client, schema, false)
}

/// [`check`] on the master, which also refuses an enum label the layout lacks: a value with it
/// would go out under a layout with which every replica refuses it.
pub fn check_master(client: &mut impl GenericClient, schema: &SchemaDef) -> Result<()> {
    check_tables(client, schema, true)
}

fn check_tables(client: &mut impl GenericClient, schema: &SchemaDef, master: bool) -> Result<()> {
    let (mut schemas, mut tables, mut columns, mut types, mut typmods) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for table in schema.tables {
        for column in table.columns {
            schemas.push(table.schema);
            tables.push(table.name);
            columns.push(column.name);
            types.push(column.sql_type);
            typmods.push(typmod(column.sql_type));
        }
    }
    let rows = client
        .query(
            &sql::plain("live_columns"),
            &[&schemas, &tables, &columns, &types, &typmods],
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
            } else if !row.get::<_, bool>(8) || !row.get::<_, bool>(12) {
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
            // Two spellings one such collation calls equal are one key to the master and two to
            // a replica, and a key changed between them is not seen as changed at all.
            if let (Some(_), Some(collation)) = (spec_position, row.get::<_, Option<String>>(13)) {
                problems.push(format!(
                    "{name}.{}: the key column uses the non-deterministic collation {collation}, \
                     which replication cannot follow (keys it calls equal can differ in their \
                     bytes); give the column and its primary key a deterministic collation",
                    column.name
                ));
            }
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
    problems.extend(enum_problems(client, schema, master)?);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::LiveTablesDiffer { problems })
    }
}

/// Refuses a replicated column that is not the one the last cut saw: dropped and added again
/// under its name and type since, so its values changed without a captured change, and
/// replicas hold the old column's values. Tables in `reloaded` (the cut publishes them whole)
/// are exempt. Records what this cut sees, in its transaction, when that is new.
pub fn check_same_columns(
    tx: &mut postgres::Transaction,
    schema: &SchemaDef,
    reloaded: &[&crate::def::TableDef],
) -> Result<()> {
    let (mut ids, mut schemas, mut tables, mut columns) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for table in schema.tables {
        for column in table.columns {
            ids.push(table.id as i32);
            schemas.push(table.schema);
            tables.push(table.name);
            columns.push(column.name);
        }
    }
    let rows = tx
        .query(
            &sql::plain("live_attnums"),
            &[&ids, &schemas, &tables, &columns],
        )
        .context(|| "cannot read the replicated columns' attribute numbers".into())?;
    let recorded: i64 = tx
        .query_one("SELECT count(*) FROM replgen.columns", &[])
        .context(|| "cannot read the recorded columns".into())?
        .get(0);
    let mut problems = Vec::new();
    let mut unrecorded = recorded != rows.len() as i64;
    for row in &rows {
        let (id, column, live, last): (i32, String, i16, Option<i16>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        match last {
            Some(last) if last != live => {
                unrecorded = true;
                let table = schema.table(id as u32).expect("a table of the layout");
                if !reloaded.iter().any(|t| t.id == table.id) {
                    let name = table.display_name();
                    problems.push(format!(
                        "{name}.{column} is not the column the last cut saw: it was dropped and \
                         added again since (attribute number {last}, now {live}), so its values \
                         changed with no change captured; publish the table whole with \
                         `dump --resync {name}`"
                    ));
                }
            }
            Some(_) => {}
            None => unrecorded = true,
        }
    }
    if !problems.is_empty() {
        return Err(Error::LiveTablesDiffer { problems });
    }
    if unrecorded {
        let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        let attnums: Vec<i16> = rows.iter().map(|r| r.get(2)).collect();
        tx.execute(&sql::plain("record_columns"), &[&ids, &names, &attnums])
            .and_then(|_| tx.execute(&sql::plain("forget_columns"), &[&ids, &names]))
            .context(|| "cannot record the replicated columns".into())?;
    }
    Ok(())
}

/// The enum types the layout defines, against the database's: each must exist, be an enum, and
/// have every label the layout lists (a label it lacks would make a published value unloadable).
fn enum_problems(
    client: &mut impl GenericClient,
    schema: &SchemaDef,
    extra_refused: bool,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for e in schema.enums {
        let qualified = replgen_schema::capture::qualified_name(e.schema, e.name);
        let row = client
            .query_opt(&sql::plain("enum_labels"), &[&qualified])
            .context(|| format!("cannot read the enum type {}.{}", e.schema, e.name))?;
        let name = format!("{}.{}", e.schema, e.name);
        match row {
            None => problems.push(format!(
                "type {name} (an enum of the layout) does not exist"
            )),
            Some(row) if row.get::<_, String>(0) != "e" => problems.push(format!(
                "type {name} is not an enum, but the layout defines it as one"
            )),
            Some(row) => {
                let labels: Vec<String> = row.get(1);
                let missing: Vec<&str> = e
                    .labels
                    .iter()
                    .copied()
                    .filter(|l| !labels.iter().any(|have| have == l))
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "enum {name} lacks the label(s) {} that the layout lists",
                        missing.join(", ")
                    ));
                }
                let extra: Vec<&str> = labels
                    .iter()
                    .map(String::as_str)
                    .filter(|have| !e.labels.contains(have))
                    .collect();
                if extra_refused && !extra.is_empty() {
                    problems.push(format!(
                        "enum {name} has the label(s) {} that the layout lacks (replicas could \
                         not load a value with them): list them in schema.yaml's types, bump \
                         schema_version and install that capture",
                        extra.join(", ")
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// The `atttypmod` PostgreSQL stores for a canonical type name (of the element, for an array),
/// `-1` for one without a modifier, `None` where this check does not know the encoding.
fn typmod(sql_type: &str) -> Option<i32> {
    let mut base = sql_type;
    while let Some(element) = base.strip_suffix("[]") {
        base = element;
    }
    let Some(open) = base.find('(') else {
        // Bare `character` and `bit` mean a length of 1.
        return (!matches!(base, "character" | "bit")).then_some(-1);
    };
    let close = base.find(')')?;
    let name = format!("{}{}", &base[..open], &base[close + 1..]);
    let args: Vec<i32> = base[open + 1..close]
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    match (name.as_str(), args.as_slice()) {
        ("character varying" | "character", [n]) => Some(n + 4),
        ("numeric", [p]) => Some((p << 16) + 4),
        ("numeric", [p, s]) => Some((p << 16) + (s & 0x7ff) + 4),
        ("bit" | "bit varying", [n]) => Some(*n),
        (
            "timestamp without time zone"
            | "timestamp with time zone"
            | "time without time zone"
            | "time with time zone",
            [p],
        ) => Some(*p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::typmod;

    #[test]
    fn type_modifiers_as_postgresql_stores_them() {
        assert_eq!(typmod("integer"), Some(-1));
        assert_eq!(typmod("character varying"), Some(-1));
        assert_eq!(typmod("character varying(255)"), Some(259));
        assert_eq!(typmod("character varying(255)[]"), Some(259));
        assert_eq!(typmod("numeric(10,2)"), Some((10 << 16) + 2 + 4));
        assert_eq!(typmod("numeric(8)"), Some((8 << 16) + 4));
        assert_eq!(typmod("timestamp(3) with time zone"), Some(3));
        assert_eq!(typmod("character"), None);
        assert_eq!(typmod("interval(3)"), None);
    }
}

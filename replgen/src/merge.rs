//! `replgen introspect --merge schema.yaml`: the database's current tables merged into an existing
//! spec. Every table of the spec keeps its id (matched by schema-qualified name) and the columns
//! the spec chose; new tables get fresh ids above every id used or retired; `schema_version`,
//! `migrations:` and `retired_ids:` are kept. Whatever is left out is named in a warning.

use std::collections::BTreeSet;

use replgen_schema::{parse_type_name, BaseType, EnumType, Schema, SqlType};

use crate::introspect::{
    canonical_type, render_spec_table, render_table, render_types, written_name, DbTable,
};

/// What the merge adds beyond the spec's own tables and columns.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Add the master's columns that the spec's tables do not list (default: leave them out and
    /// warn, since a spec may leave a column out on purpose, such as private data).
    pub add_columns: bool,
    /// Add only these new tables (as schema.yaml writes names); every new table when empty.
    pub only: Vec<String>,
}

/// The merged schema.yaml text and the warnings (one line each, naming the object).
#[derive(Debug, Clone)]
pub struct Merged {
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// Merges the database's tables `db` into `spec`. Deterministic: kept tables in id order, then the
/// new ones in (schema, name) order.
pub fn merge(
    spec: &Schema,
    db: &[DbTable],
    db_types: &[EnumType],
    opts: &MergeOptions,
) -> Result<Merged, String> {
    let mut warnings = Vec::new();
    let mut y = String::new();
    y.push_str(
        "# replgen schema, merged by `replgen introspect --merge`; ids are stable: never reuse one.\n",
    );
    y.push_str(&format!("schema_version: {}\n", spec.schema_version));
    let m = spec.migrations;
    if m != Default::default() {
        let mut fields = vec![format!("style: {}", m.style.as_str())];
        if let Some(n) = m.number {
            fields.push(format!("number: {n}"));
        }
        y.push_str(&format!("migrations: {{ {} }}\n", fields.join(", ")));
    }
    if !spec.retired_ids.is_empty() {
        let ids: Vec<String> = spec.retired_ids.iter().map(u32::to_string).collect();
        y.push_str(&format!("retired_ids: [{}]\n", ids.join(", ")));
    }
    // The `types:` section goes between the settings and the tables, once the tables are known.
    let head = std::mem::replace(&mut y, String::from("tables:\n"));

    let mut used_types: Vec<(String, String)> = Vec::new();
    let find = |schema: &str, name: &str| db.iter().find(|t| t.schema == schema && t.name == name);
    for t in &spec.tables {
        let Some(live) = find(&t.schema, &t.name) else {
            warnings.push(format!(
                "table {}.{} (id {}) of the spec is not among the database's tables with a primary key; \
                 kept as the spec describes it",
                t.schema, t.name, t.id
            ));
            render_spec_table(&mut y, t);
            continue;
        };
        let listed: BTreeSet<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        let mut columns = Vec::new();
        for (name, ty, nullable) in &live.columns {
            let qualified = format!("{}.{}.{}", t.schema, t.name, name);
            if !listed.contains(name.as_str()) {
                if live.key.contains(name) {
                    warnings.push(format!(
                        "adding key column {qualified}: the table's primary key uses it"
                    ));
                } else if opts.add_columns {
                    warnings.push(format!(
                        "adding column {qualified}: the table has it and the spec does not list it"
                    ));
                } else {
                    warnings.push(format!(
                        "leaving out column {qualified}: the spec does not list it (pass --add-columns to add it)"
                    ));
                    continue;
                }
            }
            // A rename the spec declares stays declared.
            let renamed_from = t
                .columns
                .iter()
                .find(|c| c.name == *name)
                .and_then(|c| c.renamed_from.clone());
            columns.push((name.clone(), canonical_type(ty), *nullable, renamed_from));
        }
        for c in &t.columns {
            if !live.columns.iter().any(|(n, _, _)| *n == c.name) {
                warnings.push(format!(
                    "dropping column {}.{}.{}: the spec lists it but the table has no such column",
                    t.schema, t.name, c.name
                ));
            }
        }
        used_types.extend(columns.iter().filter_map(|(_, ty, _, _)| type_name(ty)));
        render_table(&mut y, t.id, &t.written_name, &live.key, &columns);
    }

    let mut wanted = Vec::new();
    for w in &opts.only {
        wanted.push(replgen_schema::parse_table_name(w)?);
    }
    for (s, n) in &wanted {
        if find(s, n).is_none() {
            return Err(format!(
                "table {s}.{n} does not exist (or is not an ordinary table with a primary key)"
            ));
        }
    }
    let mut new: Vec<&DbTable> = db
        .iter()
        .filter(|t| {
            !spec
                .tables
                .iter()
                .any(|s| s.schema == t.schema && s.name == t.name)
        })
        .filter(|t| wanted.is_empty() || wanted.iter().any(|(s, n)| *s == t.schema && *n == t.name))
        .collect();
    new.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let used = spec
        .tables
        .iter()
        .map(|t| t.id)
        .chain(spec.retired_ids.iter().copied())
        .max()
        .unwrap_or(0);
    for (i, t) in new.iter().enumerate() {
        let id = used
            .checked_add(i as u32 + 1)
            .filter(|id| *id <= i32::MAX as u32)
            .ok_or("no table id is left below 2147483647 for the new tables")?;
        let columns: Vec<(String, String, bool, Option<String>)> = t
            .columns
            .iter()
            .map(|(n, ty, null)| (n.clone(), canonical_type(ty), *null, None))
            .collect();
        warnings.push(format!("adding table {}.{} with id {id}", t.schema, t.name));
        render_table(
            &mut y,
            id,
            &written_name(&t.schema, &t.name),
            &t.key,
            &columns,
        );
    }
    // The database's enum types the tables use, with its labels; the spec's other definitions kept.
    // (Only those the merged columns use: a column left out takes its type's definition along.)
    let used = |e: &EnumType| {
        used_types
            .iter()
            .any(|(s, n)| *s == e.schema && *n == e.name)
    };
    let mut types: Vec<EnumType> = db_types.iter().filter(|e| used(e)).cloned().collect();
    for e in &spec.types {
        if !types
            .iter()
            .any(|t| t.schema == e.schema && t.name == e.name)
        {
            types.push(e.clone());
        }
    }
    types.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let mut yaml = head;
    render_types(&mut yaml, &types);
    yaml.push_str(&y);
    Ok(Merged { yaml, warnings })
}

/// The (schema, name) of a type that is neither built in nor qualified with a typmod: an enum,
/// a domain, an extension type (arrays of them too).
fn type_name(ty: &str) -> Option<(String, String)> {
    match SqlType::parse(ty).ok()?.base {
        BaseType::Other(text) => parse_type_name(&text),
        _ => None,
    }
}

//! `replgen introspect`: read a live database's catalog and print schema.yaml for its tables.

use postgres::{Client, NoTls};
use replgen_schema::{EnumType, SqlType};

/// One introspected table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTable {
    pub schema: String,
    pub name: String,
    /// (name, format_type text, nullable), in attnum order.
    pub columns: Vec<(String, String, bool)>,
    /// Primary key column names in key order; empty when the table has none.
    pub key: Vec<String>,
}

/// What went wrong, split so the CLI can pick the exit code.
#[derive(Debug)]
pub enum IntrospectError {
    /// The database could not be read (exit 1).
    Database(String),
    /// The request cannot be satisfied: a named table is missing or has no key (exit 2).
    Invalid(String),
}

const TABLES: &str = "
SELECT n.nspname::text, c.relname::text, c.oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'replgen')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1, 2";

const COLUMNS: &str = "
SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
    a.attgenerated <> ''
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum";

/// Every partition (at any level) with the partitioned table at the root of its tree.
const PARTITIONS: &str = "
SELECT n.nspname::text, c.relname::text, rn.nspname::text, r.relname::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = pg_catalog.pg_partition_root(c.oid)
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.relispartition AND c.relkind IN ('r', 'p')
ORDER BY 1, 2";

const KEY: &str = "
SELECT a.attname::text
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisprimary
ORDER BY k.ord";

/// Reads the tables: all ordinary tables (outside the system schemas and `replgen`) when `only`
/// is empty, else exactly those named (as schema.yaml writes names).
pub fn read_tables(
    url: &str,
    only: &[String],
) -> Result<(Vec<DbTable>, Vec<String>), IntrospectError> {
    let mut client = Client::connect(url, NoTls)
        .map_err(|e| IntrospectError::Database(connect_error(url, &e)))?;
    let db = |e: postgres::Error| {
        IntrospectError::Database(format!("cannot read the catalog: {}", describe(&e)))
    };
    client
        .batch_execute("SET search_path = \"$user\", public")
        .map_err(db)?;
    let mut warnings = Vec::new();
    let rows = client.query(TABLES, &[]).map_err(db)?;
    let mut wanted: Vec<(String, String, String)> = Vec::new();
    for w in only {
        let (s, n) = replgen_schema::parse_table_name(w).map_err(IntrospectError::Invalid)?;
        wanted.push((s, n, w.clone()));
    }
    let filter = !wanted.is_empty();
    let mut out = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        let oid: u32 = row.get(2);
        let named = wanted
            .iter()
            .position(|(s, n, _)| *s == schema && *n == name);
        if filter && named.is_none() {
            continue;
        }
        let mut columns = Vec::new();
        for r in client.query(COLUMNS, &[&oid]).map_err(db)? {
            let column: String = r.get(0);
            // A replica cannot be written a generated column's value; it computes its own.
            if r.get::<_, bool>(3) {
                warnings.push(format!(
                    "leaving out generated column {schema}.{name}.{column}: a generated column \
                     cannot be replicated (define it on the mirror if it needs one)"
                ));
                continue;
            }
            columns.push((column, r.get::<_, String>(1), r.get::<_, bool>(2)));
        }
        let key: Vec<String> = client
            .query(KEY, &[&oid])
            .map_err(db)?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        if key.is_empty() {
            if let Some(i) = named {
                return Err(IntrospectError::Invalid(format!(
                    "table {} has no primary key; replgen needs one to identify rows",
                    wanted[i].2
                )));
            }
            warnings.push(format!(
                "skipping table {schema}.{name}: it has no primary key"
            ));
            continue;
        }
        if let Some(i) = named {
            wanted.remove(i);
        }
        out.push(DbTable {
            schema,
            name,
            columns,
            key,
        });
    }
    // Partitions replicate through their partitioned table: each one left out is named.
    for r in client.query(PARTITIONS, &[]).map_err(db)? {
        let (ps, pn, rs, rn): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if out.iter().any(|t| t.schema == rs && t.name == rn) {
            warnings.push(format!(
                "leaving out partition {ps}.{pn}: its rows replicate as rows of the partitioned \
                 table {rs}.{rn}"
            ));
        }
    }
    if let Some((_, _, w)) = wanted.first() {
        return Err(IntrospectError::Invalid(format!(
            "table {w} does not exist (or is not an ordinary table)"
        )));
    }
    Ok((out, warnings))
}

/// The enum types the columns of these tables use (arrays of them included), with their labels in
/// sort order: what `mirror init` creates on a mirror that lacks them.
const ENUMS: &str = "
SELECT DISTINCT n.nspname::text, t.typname::text,
    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e
     WHERE e.enumtypid = t.oid)
FROM unnest($1::text[], $2::text[]) AS r(schema_name, table_name)
JOIN pg_catalog.pg_namespace rn ON rn.nspname = r.schema_name
JOIN pg_catalog.pg_class c ON c.relnamespace = rn.oid AND c.relname = r.table_name
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attgenerated = ''
JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
JOIN pg_catalog.pg_type t
    ON t.oid = CASE WHEN at.typcategory = 'A' THEN at.typelem ELSE at.oid END
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e'
ORDER BY 1, 2";

/// The enum types (with labels) that the columns of `tables` use.
pub fn read_enums(url: &str, tables: &[DbTable]) -> Result<Vec<EnumType>, IntrospectError> {
    let mut client = Client::connect(url, NoTls)
        .map_err(|e| IntrospectError::Database(format!("cannot connect to the database: {e}")))?;
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = client
        .query(ENUMS, &[&schemas, &names])
        .map_err(|e| IntrospectError::Database(format!("cannot read the enum types: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|r| EnumType {
            schema: r.get(0),
            name: r.get(1),
            labels: r.get::<_, Option<Vec<String>>>(2).unwrap_or_default(),
        })
        .collect())
}

/// A YAML scalar: plain when that reads back as the same string, double-quoted otherwise.
pub fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '(' | ')' | '.'))
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A table name as schema.yaml writes it: `name` in `public`, `schema.name` elsewhere; a part
/// holding a dot or a quote (or starting with a quote) is double-quoted SQL-style.
pub fn written_name(schema: &str, name: &str) -> String {
    let part = |p: &str| {
        if p.contains('.') || p.contains('"') || p.is_empty() {
            format!("\"{}\"", p.replace('"', "\"\""))
        } else {
            p.to_string()
        }
    };
    if schema == "public" {
        part(name)
    } else {
        format!("{}.{}", part(schema), part(name))
    }
}

/// A type as schema.yaml writes it: the canonical spelling when replgen knows the type,
/// format_type's otherwise.
pub fn canonical_type(ty: &str) -> String {
    SqlType::parse(ty)
        .map(|t| t.ddl())
        .unwrap_or_else(|_| ty.to_string())
}

/// The schema.yaml text for these tables (ids 1.. in (schema, name) order) and enum types.
pub fn render_yaml(tables: &[DbTable], types: &[EnumType], schema_version: u32) -> String {
    let mut tables: Vec<&DbTable> = tables.iter().collect();
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let mut y = String::new();
    y.push_str(
        "# replgen schema, written by `replgen introspect`; ids are stable: never reuse one.\n",
    );
    y.push_str(&format!("schema_version: {schema_version}\n"));
    render_types(&mut y, types);
    y.push_str("tables:\n");
    for (i, t) in tables.iter().enumerate() {
        let columns: Vec<(String, String, bool, Option<String>)> = t
            .columns
            .iter()
            .map(|(name, ty, nullable)| (name.clone(), canonical_type(ty), *nullable, None))
            .collect();
        render_table(
            &mut y,
            i as u32 + 1,
            &written_name(&t.schema, &t.name),
            &t.key,
            &columns,
        );
    }
    y
}

/// The `types:` section for these enum definitions (nothing when there are none).
pub fn render_types(y: &mut String, types: &[EnumType]) {
    if types.is_empty() {
        return;
    }
    y.push_str("types:\n");
    for e in types {
        let labels: Vec<String> = e.labels.iter().map(|l| yaml_scalar(l)).collect();
        y.push_str(&format!(
            "  {}: {{ enum: [{}] }}\n",
            yaml_scalar(&e.written()),
            labels.join(", ")
        ));
    }
}

/// One entry of a schema.yaml `tables:` list: id, name, key and columns as
/// (name, type, nullable, renamed_from).
pub fn render_table(
    y: &mut String,
    id: u32,
    written: &str,
    key: &[String],
    columns: &[(String, String, bool, Option<String>)],
) {
    y.push_str(&format!("  - id: {id}\n"));
    y.push_str(&format!("    name: {}\n", yaml_scalar(written)));
    let key: Vec<String> = key.iter().map(|k| yaml_scalar(k)).collect();
    y.push_str(&format!("    key: [{}]\n", key.join(", ")));
    y.push_str("    columns:\n");
    for (name, ty, nullable, renamed_from) in columns {
        y.push_str(&format!(
            "      - {{ name: {}, type: {}",
            yaml_scalar(name),
            yaml_scalar(ty)
        ));
        if *nullable {
            y.push_str(", nullable: true");
        }
        if let Some(from) = renamed_from {
            y.push_str(&format!(", renamed_from: {}", yaml_scalar(from)));
        }
        y.push_str(" }\n");
    }
}

/// A validated table as [`render_table`] writes it.
pub fn render_spec_table(y: &mut String, t: &replgen_schema::Table) {
    let key: Vec<String> = t.key_columns().map(|c| c.name.clone()).collect();
    let columns: Vec<(String, String, bool, Option<String>)> = t
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.sql_type.ddl(),
                c.nullable,
                c.renamed_from.clone(),
            )
        })
        .collect();
    render_table(y, t.id, &t.written_name, &key, &columns);
}

/// Which server and database a connection failed to reach, and why in the server's (or the
/// network's) words; never the password.
fn connect_error(url: &str, e: &postgres::Error) -> String {
    let target = match url.parse::<postgres::Config>() {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
            format!(
                "database {} on {}{}{}",
                config.get_dbname().unwrap_or("(the user's default)"),
                if hosts.is_empty() {
                    "the default host".to_string()
                } else {
                    hosts.join(",")
                },
                if ports.is_empty() { "" } else { " port " },
                ports.join(","),
            )
        }
        Err(_) => "the database".to_string(),
    };
    format!(
        "cannot connect to {}{}: {}",
        target,
        config_user(url),
        describe(e)
    )
}

fn config_user(url: &str) -> String {
    url.parse::<postgres::Config>()
        .ok()
        .and_then(|c| c.get_user().map(|u| format!(" as user {u}")))
        .unwrap_or_default()
}

/// `postgres::Error` displays only its kind ("db error"); the server's message and detail, or
/// the I/O cause, are in its source.
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!(" (hint: {hint})"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

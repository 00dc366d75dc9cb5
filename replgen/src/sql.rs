//! The capture migrations, rendered from the minijinja templates in `templates/`.

use minijinja::{Environment, UndefinedBehavior};
use replgen_schema::{capture, quote_ident, Schema};

use crate::error::GenerateError;
use serde::Serialize;

const INSTALL: &str = include_str!("../templates/install.sql.jinja");
const UNINSTALL: &str = include_str!("../templates/uninstall.sql.jinja");

#[derive(Serialize)]
struct Key {
    /// The key column's name in the table.
    column: String,
    /// Its column in the change log: k1, k2, ...
    k: String,
    /// The key column's type.
    log_type: String,
    /// For an array-typed key: the one-field composite type (`v <key type>`) the log's array
    /// holds instead, since PostgreSQL has no arrays of arrays. Empty otherwise.
    wrap: String,
    /// The element type of the log column (`k1 <elem>[]`): the key type or the wrapper, as SQL.
    elem: String,
}

#[derive(Serialize)]
struct TableCtx {
    id: u32,
    schema: String,
    name: String,
    log: String,
    keys: Vec<Key>,
    fn_insert: String,
    fn_update: String,
    fn_delete: String,
    fn_key: String,
    fn_truncate: String,
    /// The UPDATE trigger's function on a partitioned table and its partitions.
    fn_move: String,
    /// The TRUNCATE trigger's function on a leaf partition.
    fn_part_truncate: String,
    functions: Vec<String>,
}

#[derive(Serialize)]
struct Ctx {
    schema_version: u32,
    fingerprint: String,
    tables: Vec<TableCtx>,
    /// The dollar-quote tag for function bodies, chosen so that no identifier contains it.
    dq: String,
    /// At most this many keys per log row.
    chunk_keys: u32,
    /// Statements known to touch at most this many rows aggregate their keys in one pass and
    /// slice the arrays; others (or of unknown size) number their rows and group (bounded memory).
    slice_keys: u32,
}

/// How the capture triggers split a statement's keys into change-log rows (docs/design.md,
/// "Capture").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many keys per log row.
    pub chunk_keys: u32,
    /// A statement believed to touch at most this many rows aggregates its keys in one pass and
    /// slices the arrays; larger ones (or of unknown size) number their rows and group them.
    pub slice_keys: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            chunk_keys: 100_000,
            slice_keys: 1_000_000,
        }
    }
}

/// A SQL string literal: single-quoted, `'` doubled (standard_conforming_strings).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_filter("qi", |s: String| quote_ident(&s));
    env.add_filter("lit", |s: String| lit(&s));
    env
}

fn context(schema: &Schema, limits: Limits) -> Ctx {
    let tables: Vec<TableCtx> = schema
        .tables
        .iter()
        .map(|t| {
            let keys = t
                .key_columns()
                .enumerate()
                .map(|(i, c)| {
                    let k = format!("k{}", i + 1);
                    let log_type = c.sql_type.ddl();
                    let wrap = if c.sql_type.array {
                        capture::key_array_type(t.id, &k)
                    } else {
                        String::new()
                    };
                    let elem = if wrap.is_empty() {
                        log_type.clone()
                    } else {
                        capture::qualified_name(capture::STATE_SCHEMA, &wrap)
                    };
                    Key {
                        column: c.name.clone(),
                        k,
                        log_type,
                        wrap,
                        elem,
                    }
                })
                .collect();
            let f = |what: &str| format!("capture_{}_{what}", t.id);
            TableCtx {
                id: t.id,
                schema: t.schema.clone(),
                name: t.name.clone(),
                log: capture::change_log(t.id),
                keys,
                fn_insert: f("insert"),
                fn_update: f("update"),
                fn_delete: f("delete"),
                fn_key: f("key"),
                fn_truncate: f("truncate"),
                fn_move: f("move"),
                fn_part_truncate: f("part_truncate"),
                functions: [
                    "insert",
                    "update",
                    "delete",
                    "key",
                    "truncate",
                    "move",
                    "part_truncate",
                ]
                .iter()
                .map(|w| f(w))
                .collect(),
            }
        })
        .collect();
    // Every name that ends up inside a function body; the tag must not occur in any of them.
    let mut all = String::new();
    for t in &schema.tables {
        for part in [&t.schema, &t.name] {
            all.push_str(part);
            all.push('\n');
        }
        for c in &t.columns {
            all.push_str(&c.name);
            all.push('\n');
            all.push_str(&c.sql_type.ddl());
            all.push('\n');
        }
    }
    let mut dq = "$replgen$".to_string();
    let mut n = 0;
    while all.contains(&dq) {
        n += 1;
        dq = format!("$replgen{n}$");
    }
    Ctx {
        schema_version: schema.schema_version,
        fingerprint: schema.fingerprint(),
        tables,
        dq,
        chunk_keys: limits.chunk_keys,
        slice_keys: limits.slice_keys,
    }
}

fn render(
    name: &'static str,
    src: &'static str,
    schema: &Schema,
    limits: Limits,
) -> Result<String, GenerateError> {
    let err = |source| GenerateError::Template { name, source };
    let mut env = env();
    env.add_template(name, src).map_err(err)?;
    env.get_template(name)
        .map_err(err)?
        .render(context(schema, limits))
        .map_err(err)
}

/// The install migration (idempotent, in one transaction).
pub fn install(schema: &Schema) -> Result<String, GenerateError> {
    install_with(schema, Limits::default())
}

/// The install migration with other chunk sizes; tests use small ones to exercise chunking.
pub fn install_with(schema: &Schema, limits: Limits) -> Result<String, GenerateError> {
    render("install.sql.jinja", INSTALL, schema, limits)
}

/// The uninstall migration (idempotent, in one transaction).
pub fn uninstall(schema: &Schema) -> Result<String, GenerateError> {
    render("uninstall.sql.jinja", UNINSTALL, schema, Limits::default())
}

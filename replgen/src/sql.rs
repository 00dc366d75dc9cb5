//! The capture migrations, rendered from the minijinja templates in `templates/`.

use minijinja::{Environment, UndefinedBehavior};
use replgen_schema::{quote_ident, Schema};
use serde::Serialize;

const INSTALL: &str = include_str!("../templates/install.sql.jinja");
const UNINSTALL: &str = include_str!("../templates/uninstall.sql.jinja");

#[derive(Serialize)]
struct Key {
    /// The key column's name in the table.
    column: String,
    /// Its column in the change log: k1, k2, ...
    k: String,
    /// The log column's type: the key column's type.
    log_type: String,
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
    functions: Vec<String>,
}

#[derive(Serialize)]
struct Ctx {
    schema_version: u32,
    fingerprint: String,
    tables: Vec<TableCtx>,
    /// The dollar-quote tag for function bodies, chosen so that no identifier contains it.
    dq: String,
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

fn context(schema: &Schema) -> Ctx {
    let tables: Vec<TableCtx> = schema
        .tables
        .iter()
        .map(|t| {
            let keys = t
                .key_columns()
                .enumerate()
                .map(|(i, c)| Key {
                    column: c.name.clone(),
                    k: format!("k{}", i + 1),
                    log_type: c.sql_type.ddl(),
                })
                .collect();
            let f = |what: &str| format!("capture_{}_{what}", t.id);
            TableCtx {
                id: t.id,
                schema: t.schema.clone(),
                name: t.name.clone(),
                log: format!("log_{}", t.id),
                keys,
                fn_insert: f("insert"),
                fn_update: f("update"),
                fn_delete: f("delete"),
                fn_key: f("key"),
                fn_truncate: f("truncate"),
                functions: ["insert", "update", "delete", "key", "truncate"]
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
    }
}

fn render(name: &str, src: &str, schema: &Schema) -> Result<String, String> {
    let mut env = env();
    env.add_template(name, src)
        .map_err(|e| format!("template {name}: {e}"))?;
    let tmpl = env
        .get_template(name)
        .map_err(|e| format!("template {name}: {e}"))?;
    tmpl.render(context(schema))
        .map_err(|e| format!("template {name}: {e:#}"))
}

/// The install migration (idempotent, in one transaction).
pub fn install(schema: &Schema) -> Result<String, String> {
    render("install.sql.jinja", INSTALL, schema)
}

/// The uninstall migration (idempotent, in one transaction).
pub fn uninstall(schema: &Schema) -> Result<String, String> {
    render("uninstall.sql.jinja", UNINSTALL, schema)
}

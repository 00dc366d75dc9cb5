//! The runtime's SQL, rendered from the minijinja templates in `runtime/templates/` with the
//! generated table definitions.

use std::sync::OnceLock;

use minijinja::{context, Environment, Value};

use crate::def::TableDef;

const TEMPLATES: &[(&str, &str)] = &[
    ("state", include_str!("../templates/state.sql.jinja")),
    (
        "replica_state",
        include_str!("../templates/replica_state.sql.jinja"),
    ),
    (
        "lock_tables",
        include_str!("../templates/lock_tables.sql.jinja"),
    ),
    ("pending", include_str!("../templates/pending.sql.jinja")),
    (
        "dump_table",
        include_str!("../templates/dump_table.sql.jinja"),
    ),
    (
        "export_table",
        include_str!("../templates/export_table.sql.jinja"),
    ),
    ("stage", include_str!("../templates/stage.sql.jinja")),
    (
        "stage_copy",
        include_str!("../templates/stage_copy.sql.jinja"),
    ),
    ("merge", include_str!("../templates/merge.sql.jinja")),
    (
        "import_copy",
        include_str!("../templates/import_copy.sql.jinja"),
    ),
    (
        "table_digest",
        include_str!("../templates/table_digest.sql.jinja"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("runtime templates are valid");
        }
        env
    })
}

/// Always double-quoted, embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    replgen_schema::quote_ident(name)
}

/// The context a table's templates see.
pub fn table_context(t: &TableDef) -> Value {
    let column = |name: &str| context! { q => quote_ident(name) };
    context! {
        id => t.id,
        qname => format!("{}.{}", quote_ident(t.schema), quote_ident(t.name)),
        log => format!("replgen.{}", quote_ident(&format!("log_{}", t.id))),
        stage => quote_ident(&format!("replgen_stage_{}", t.id)),
        columns => t.columns.iter().map(|c| column(c.name)).collect::<Vec<_>>(),
        key => t.key_columns().map(|c| column(c.name)).collect::<Vec<_>>(),
    }
}

/// Renders a template about one table.
pub fn for_table(template: &str, t: &TableDef) -> String {
    render(template, context! { t => table_context(t) })
}

/// Renders a template about all tables.
pub fn for_tables(template: &str, tables: &[&TableDef]) -> String {
    let tables: Vec<Value> = tables.iter().map(|t| table_context(t)).collect();
    render(template, context! { tables => tables })
}

/// Renders a template without parameters.
pub fn plain(template: &str) -> String {
    render(template, context! {})
}

fn render(template: &str, ctx: Value) -> String {
    env()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("rendering the runtime template {template}: {e}"))
}

/// The session settings under which every value's text form is canonical and lossless.
pub const SESSION_SETTINGS: &str = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
     SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; \
     SET client_encoding = 'UTF8'; SET standard_conforming_strings = on;";

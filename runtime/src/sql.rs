//! The runtime's SQL, rendered from the minijinja templates in `runtime/templates/` with the
//! generated table definitions.

use std::sync::OnceLock;

use minijinja::{context, Environment, UndefinedBehavior, Value};
use replgen_schema::capture;

use crate::def::{ColumnDef, EnumDef, TableDef};

/// Every template in `runtime/templates/`, embedded by name.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name, ".sql.jinja")))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "add_enum_label",
    "all_null",
    "analyze",
    "apply_mode",
    "bucket_rows",
    "capture_installed",
    "consume_log",
    "create_enum",
    "create_schema",
    "create_table",
    "direct_copy",
    "drop_table",
    "dump_plan",
    "dump_table",
    "empty_table",
    "enum_labels",
    "export_table",
    "feed_identity",
    "forget_columns",
    "forget_feed",
    "has_rows",
    "import_copy",
    "init_survey",
    "last_cut",
    "live_attnums",
    "live_columns",
    "lock_tables",
    "merge",
    "new_feed",
    "partition_keys",
    "partitions",
    "pending",
    "published_layout",
    "record_columns",
    "record_partitions",
    "reload_empty",
    "reload_table",
    "replica_hazards",
    "replica_state",
    "set_position",
    "stage",
    "stage_copy",
    "stage_state",
    "state",
    "table_buckets",
    "table_digest",
    "uncut_logs",
    "uninstall_lock",
    "upgrade_blockers",
    "upgrade_table",
    "upgrade_table_after",
    "vacuum_log",
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt variable must fail loudly, never render as empty SQL.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
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

/// A string literal (standard_conforming_strings is on: only quotes are doubled).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The context a table's templates see.
pub fn table_context(t: &TableDef) -> Value {
    context! {
        id => t.id,
        schema_q => quote_ident(t.schema),
        name_q => quote_ident(t.name),
        qname => capture::qualified_name(t.schema, t.name),
        qlit => quote_literal(&capture::qualified_name(t.schema, t.name)),
        log => capture::change_log_qualified(t.id),
        stage => stage_name(t),
        stage_lit => quote_literal(&stage_name(t)),
        columns => t.columns.iter().map(column_context).collect::<Vec<_>>(),
        key => t.key_columns().map(column_context).collect::<Vec<_>>(),
        op => quote_ident(&op_column(t)),
        seq => quote_ident(&seq_column(t)),
        op_lit => quote_literal(&op_column(t)),
        seq_lit => quote_literal(&seq_column(t)),
        nonkey => t
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !t.key.contains(i))
            .map(|(_, c)| column_context(c))
            .collect::<Vec<_>>(),
    }
}

/// A column as templates see it: quoted name, its name as a literal, the layout's canonical SQL
/// type (for DDL), whether it is an array, and nullability.
/// A table's staging table on the replica, kept between apply processes (see stage.sql.jinja).
pub fn stage_name(t: &TableDef) -> String {
    format!(
        "{}.{}",
        quote_ident("replgen"),
        quote_ident(&format!("stage_{}", t.id))
    )
}

pub fn column_context(c: &ColumnDef) -> Value {
    context! {
        q => quote_ident(c.name),
        lit => quote_literal(c.name),
        type => c.sql_type,
        array => c.sql_type.ends_with("[]"),
        nullable => c.nullable,
        not_null => !c.nullable,
    }
}

/// The staging table's operation column: `replgen_op`, or `replgen_op_2`, ... when the table
/// has a column of that name (a replicated table may have any column names).
pub fn op_column(t: &TableDef) -> String {
    let mut name = "replgen_op".to_string();
    let mut n = 2;
    while t.columns.iter().any(|c| c.name == name) {
        name = format!("replgen_op_{n}");
        n += 1;
    }
    name
}

/// The staging table's column for a row's place in a batch of packets (0 = the first packet),
/// named like [`op_column`]: `replgen_seq`, or `replgen_seq_2`, ... when the table has one.
pub fn seq_column(t: &TableDef) -> String {
    let mut name = "replgen_seq".to_string();
    let mut n = 2;
    while t.columns.iter().any(|c| c.name == name) {
        name = format!("replgen_seq_{n}");
        n += 1;
    }
    name
}

/// Renders a template about one table.
pub fn for_table(template: &str, t: &TableDef) -> String {
    render(template, context! { t => table_context(t) })
}

/// How a stage is merged into its table (see merge.sql.jinja).
#[derive(Debug, Clone, Copy, Default)]
pub struct Merge {
    /// ANALYZE the stage first (a big one).
    pub analyze: bool,
    /// Skip the DELETE when every staged key sorts after the table's last (a big stage: on a
    /// small one the check costs about what the DELETE does).
    pub skip_new_keys: bool,
    /// The stage holds a batch of packets: keep only each key's newest version.
    pub batched: bool,
    /// Upsert on the key instead of DELETE + INSERT (only for a table whose sole unique index is
    /// the key's and that has no trigger). Measured slower (bench section 9): apply never asks
    /// for it; kept so the bench shows the comparison.
    pub in_place: bool,
}

/// The statements that merge a table's stage into it.
pub fn merge(t: &TableDef, how: Merge) -> String {
    render(
        "merge",
        context! {
            t => table_context(t),
            analyze => how.analyze,
            skip_new_keys => how.skip_new_keys,
            batched => how.batched,
            in_place => how.in_place,
        },
    )
}

/// Renders a template about one table and some of its columns.
pub fn for_columns(template: &str, t: &TableDef, columns: &[&ColumnDef]) -> String {
    let columns: Vec<Value> = columns.iter().map(|c| column_context(c)).collect();
    render(
        template,
        context! { t => table_context(t), columns => columns },
    )
}

/// Renders a template about one table with more parameters.
pub fn for_table_with(template: &str, t: &TableDef, extra: Value) -> String {
    render(template, context! { t => table_context(t), ..extra })
}

/// A table's dump query; `distinct`: every logged key is known to occur once (no grouping);
/// `ts`: the query writes each line's timestamp (not the dumper).
pub fn dump_table(t: &TableDef, distinct: bool, ts: bool) -> String {
    for_table_with("dump_table", t, context! { distinct, ts })
}

/// Renders a template about all tables.
pub fn for_tables(template: &str, tables: &[&TableDef]) -> String {
    let tables: Vec<Value> = tables.iter().map(|t| table_context(t)).collect();
    render(template, context! { tables => tables })
}

/// Renders a template about one partition `rel` (a regclass's text, quoted) of table `t`, whose
/// keys are logged as `kind`. An array-typed key column is logged wrapped in its one-field
/// composite (replgen_schema::capture::key_array_type).
pub fn for_partition(template: &str, t: &TableDef, rel: &str, kind: u8) -> String {
    let keys: Vec<Value> = t
        .key_columns()
        .enumerate()
        .map(|(i, c)| {
            let wrap = if c.sql_type.ends_with("[]") {
                capture::qualified_name(
                    capture::STATE_SCHEMA,
                    &capture::key_array_type(t.id, &format!("k{}", i + 1)),
                )
            } else {
                String::new()
            };
            context! { q => quote_ident(c.name), wrap => wrap }
        })
        .collect();
    render(
        template,
        context! { t => table_context(t), keys => keys, rel => rel, kind => kind },
    )
}

/// The query that says whether this role may set session_replication_role (the privilege
/// function exists from PostgreSQL 15 on).
pub fn apply_mode(pg15: bool) -> String {
    render("apply_mode", context! { pg15 => pg15 })
}

/// `CREATE SCHEMA` for one schema (namespace), quoted.
pub fn create_schema(name: &str) -> String {
    render("create_schema", context! { q => quote_ident(name) })
}

/// `CREATE TYPE ... AS ENUM` for an enum the layout defines.
pub fn create_enum(e: &EnumDef) -> String {
    render(
        "create_enum",
        context! {
            qname => capture::qualified_name(e.schema, e.name),
            labels => e.labels.iter().map(|l| quote_literal(l)).collect::<Vec<_>>(),
        },
    )
}

/// Adds `label` to an existing enum, placed after `after` (or before `before`).
pub fn add_enum_label(
    e: &EnumDef,
    label: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> String {
    render(
        "add_enum_label",
        context! {
            qname => capture::qualified_name(e.schema, e.name),
            label => quote_literal(label),
            after => after.map(quote_literal),
            before => before.map(quote_literal),
        },
    )
}

/// Renders a template without parameters.
pub fn plain(template: &str) -> String {
    render(template, context! {})
}

fn render(template: &str, ctx: Value) -> String {
    try_render(template, ctx)
        .unwrap_or_else(|e| panic!("rendering the runtime template {template}: {e}"))
}

fn try_render(template: &str, ctx: Value) -> Result<String, minijinja::Error> {
    env().get_template(template)?.render(ctx)
}

/// The session settings under which every value's text form is canonical and lossless, and
/// every row is read: with `row_security = off` a policy that would hide rows from this role
/// is an error, never a packet, export or comparison that quietly leaves rows out.
pub const SESSION_SETTINGS: &str = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
     SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; \
     SET client_encoding = 'UTF8'; SET standard_conforming_strings = on; \
     SET row_security = off;";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staging_op_column_never_takes_a_replicated_columns_name() {
        const COLUMNS: &[ColumnDef] = &[
            ColumnDef {
                name: "replgen_op",
                sql_type: "integer",
                nullable: false,
                renamed_from: None,
            },
            ColumnDef {
                name: "replgen_op_2",
                sql_type: "text",
                nullable: true,
                renamed_from: None,
            },
        ];
        let t = TableDef {
            id: 1,
            schema: "public",
            name: "t",
            columns: COLUMNS,
            key: &[0],
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        };
        assert_eq!(op_column(&t), "replgen_op_3");
        let stage = for_table_with("stage", &t, context! { make => true, truncate => false });
        assert!(stage.contains("0::smallint AS \"replgen_op_3\""), "{stage}");
        assert!(merge(&t, Merge::default()).contains("WHERE \"replgen_op_3\" <> 2"));
        assert!(for_table("stage_copy", &t)
            .contains("(\"replgen_seq\", \"replgen_op_3\", \"replgen_op\""));
    }

    #[test]
    fn every_template_renders_with_strict_variables() {
        let t = TableDef {
            id: 1,
            schema: "public",
            name: "t",
            columns: &[ColumnDef {
                name: "id",
                sql_type: "integer",
                nullable: false,
                renamed_from: None,
            }],
            key: &[0],
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        };
        for (name, _) in TEMPLATES {
            // Every parameter any template takes, each branch on (the upgrade's included).
            let cols = vec![column_context(&t.columns[0])];
            let ctx = context! {
                t => table_context(&t), tables => vec![table_context(&t)], pg15 => true,
                columns => cols.clone(), old_qname => "\"s\".\"old\"", moved_qname => "\"public\".\"old\"",
                rename_schema => true, rename_name => true, emptied => true, drop_key => true,
                dropped => cols.clone(), retyped => cols.clone(), now_nullable => cols.clone(),
                renamed => vec![context! { old => cols[0].clone(), new => cols[0].clone() }],
                added => cols.clone(), now_not_null => cols, add_key => true,
                keys => vec![context! { q => "\"id\"", wrap => "" }],
                rel => "\"p\"",
                kind => 3, distinct => true, ts => true,
                q => "\"s\"", qname => "\"s\".\"e\"", labels => vec!["'a'"], label => "'b'", after => "'a'",
                analyze => true, batched => true, in_place => true, skip_new_keys => true,
                make => true, truncate => true,
            };
            let sql = try_render(name, ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!sql.trim().is_empty(), "{name} rendered empty");
        }
    }

    /// Table 7, `public.t (a integer, b text[])`, keyed on both.
    fn two_column_key() -> TableDef {
        TableDef {
            id: 7,
            schema: "public",
            name: "t",
            columns: &[
                ColumnDef {
                    name: "a",
                    sql_type: "integer",
                    nullable: false,
                    renamed_from: None,
                },
                ColumnDef {
                    name: "b",
                    sql_type: "text[]",
                    nullable: false,
                    renamed_from: None,
                },
            ],
            key: &[0, 1],
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        }
    }

    #[test]
    fn a_partitions_array_key_is_logged_in_its_wrapper() {
        let t = two_column_key();
        let sql = for_partition("partition_keys", &t, "public.\"p 1\"", 0);
        assert!(
            sql.contains("ROW(r.\"b\")::\"replgen\".\"log_7_k2\" AS k2"),
            "{sql}"
        );
        assert!(sql.contains("r.\"a\" AS k1"), "{sql}");
        assert!(sql.contains("FROM ONLY public.\"p 1\" r"), "{sql}");
        assert!(sql.contains("* 4 + 0"), "{sql}");
    }

    #[test]
    fn the_merge_runs_its_delete_only_when_a_staged_key_may_be_in_the_table() {
        let t = two_column_key();
        let small = merge(&t, Merge::default());
        assert!(!small.contains("LIMIT 1"), "{small}");
        let sql = merge(
            &t,
            Merge {
                skip_new_keys: true,
                ..Merge::default()
            },
        );
        // The smallest staged key against the table's largest, in the primary key's order.
        assert!(
            sql.contains("(SELECT ROW(s.\"a\", s.\"b\") FROM \"replgen\".\"stage_7\" s\n        ORDER BY s.\"a\", s.\"b\" LIMIT 1)\n    <= (SELECT ROW(t.\"a\", t.\"b\") FROM \"public\".\"t\" t\n        ORDER BY t.\"a\" DESC, t.\"b\" DESC LIMIT 1);"),
            "{sql}"
        );
    }

    #[test]
    fn every_template_file_is_registered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for file in std::fs::read_dir(dir).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            let name = name
                .strip_suffix(".sql.jinja")
                .expect("only templates in templates/");
            assert!(
                TEMPLATES.iter().any(|(n, _)| *n == name),
                "{name} is not registered"
            );
        }
    }

    #[test]
    fn a_missing_variable_is_an_error_not_empty_sql() {
        // `t` without `qname`: a lenient environment would render `DELETE FROM ` and run it.
        let ctx = context! { t => context! { id => 1 } };
        assert!(try_render("empty_table", ctx).is_err());
    }
}

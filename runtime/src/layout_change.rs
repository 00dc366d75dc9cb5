//! What changes between two layouts a binary knows, table by table (matched by id, which a
//! table keeps across renames) and column by column (matched by name, or by `renamed_from` where
//! the old layout has that name). Pure: the master decides
//! from it which tables its boundary packet reloads, a replica which DDL upgrades its tables.

use crate::def::{ColumnDef, EnumDef, SchemaDef, TableDef};

/// One table's change from the old layout to the new.
#[derive(Debug, Clone)]
pub enum TableChange {
    /// In the new layout only.
    Added(&'static TableDef),
    /// In the old layout only.
    Dropped(&'static TableDef),
    /// In both, with some difference.
    Changed(ChangedTable),
}

#[derive(Debug, Clone)]
pub struct ChangedTable {
    pub old: &'static TableDef,
    pub new: &'static TableDef,
    /// Columns of the new layout the old one lacks.
    pub added: Vec<&'static ColumnDef>,
    /// Columns of the old layout the new one lacks.
    pub dropped: Vec<&'static ColumnDef>,
    /// Columns the application renamed: (old, new).
    pub renamed_columns: Vec<(&'static ColumnDef, &'static ColumnDef)>,
    /// Columns whose type changed: (old, new).
    pub retyped: Vec<(&'static ColumnDef, &'static ColumnDef)>,
    /// Columns whose nullability changed (as the new layout has them).
    pub nullability: Vec<&'static ColumnDef>,
    /// Whether the primary key's columns (or their order) changed.
    pub key_changed: bool,
}

impl ChangedTable {
    /// Whether the table's schema or name changed.
    pub fn renamed(&self) -> bool {
        (self.old.schema, self.old.name) != (self.new.schema, self.new.name)
    }

    /// Whether a replica can reach the master's rows from its own without them being sent: only
    /// when no key changed, no column was renamed and every retyped column is a lossless widening
    /// of a non-key column. (Retyping a key column means dropping its capture's key-update trigger
    /// first, so key updates in that window are only covered by a reload. A rename is only what
    /// schema.yaml says: a column dropped and added again under the old one's name would hold
    /// other values, and nothing captured tells.) Added columns are decided by the master from
    /// its data (see `master::boundary`).
    pub fn derivable_except_added(&self) -> bool {
        let is_key = |c: &ColumnDef| self.new.key_columns().any(|k| k.name == c.name);
        !self.key_changed
            && self.renamed_columns.is_empty()
            && self
                .retyped
                .iter()
                .all(|(old, new)| !is_key(new) && is_lossless_widening(old.sql_type, new.sql_type))
    }
}

/// Every table that differs between `old` and `new`, in table id order.
pub fn diff(old: &'static SchemaDef, new: &'static SchemaDef) -> Vec<TableChange> {
    let mut changes = Vec::new();
    for &table in old.tables {
        if new.table(table.id).is_none() {
            changes.push(TableChange::Dropped(table));
        }
    }
    for &table in new.tables {
        match old.table(table.id) {
            None => changes.push(TableChange::Added(table)),
            Some(before) => {
                if let Some(changed) = diff_table(before, table) {
                    changes.push(TableChange::Changed(changed));
                }
            }
        }
    }
    changes.sort_by_key(|c| match c {
        TableChange::Added(t) | TableChange::Dropped(t) => t.id,
        TableChange::Changed(c) => c.new.id,
    });
    changes
}

fn diff_table(old: &'static TableDef, new: &'static TableDef) -> Option<ChangedTable> {
    let find = |t: &'static TableDef, name: &str| t.columns.iter().find(|c| c.name == name);
    // The old column each new one continues: its renamed_from where the old layout has it (a
    // rename of this version), else the column of the same name.
    let source = |c: &ColumnDef| match c.renamed_from.and_then(|from| find(old, from)) {
        Some(before) => Some((before, true)),
        None => find(old, c.name).map(|before| (before, false)),
    };
    let new_name = |old_name: &str| {
        new.columns
            .iter()
            .find(|c| source(c).is_some_and(|(before, _)| before.name == old_name))
            .map(|c| c.name)
    };
    let mut changed = ChangedTable {
        old,
        new,
        added: Vec::new(),
        dropped: Vec::new(),
        renamed_columns: Vec::new(),
        retyped: Vec::new(),
        nullability: Vec::new(),
        key_changed: old
            .key_columns()
            .map(|c| new_name(c.name))
            .ne(new.key_columns().map(|c| Some(c.name))),
    };
    for column in new.columns {
        match source(column) {
            None => changed.added.push(column),
            Some((before, renamed)) => {
                if renamed {
                    changed.renamed_columns.push((before, column));
                }
                if before.sql_type != column.sql_type {
                    changed.retyped.push((before, column));
                }
                if before.nullable != column.nullable {
                    changed.nullability.push(column);
                }
            }
        }
    }
    for column in old.columns {
        if new_name(column.name).is_none() {
            changed.dropped.push(column);
        }
    }
    let same = !changed.renamed()
        && !changed.key_changed
        && changed.added.is_empty()
        && changed.dropped.is_empty()
        && changed.renamed_columns.is_empty()
        && changed.retyped.is_empty()
        && changed.nullability.is_empty();
    (!same).then_some(changed)
}

/// Whether every value of `old` reads back unchanged as `new` (contract §5's list:
/// int2→int4→int8, varchar(n)→varchar(m>n) or text, numeric(p,s)→numeric(q>p,s); plus the
/// unconstrained forms, which hold every value of the constrained ones).
pub fn is_lossless_widening(old: &str, new: &str) -> bool {
    const INTEGERS: [&str; 3] = ["smallint", "integer", "bigint"];
    let rank = |t: &str| INTEGERS.iter().position(|&i| i == t);
    if let (Some(a), Some(b)) = (rank(old), rank(new)) {
        return a < b;
    }
    if let Some(n) = typmod(old, "character varying") {
        return match new {
            "text" | "character varying" => true,
            _ => typmod(new, "character varying").is_some_and(|m| m.len() == 1 && m[0] > n[0]),
        };
    }
    if old == "character varying" {
        return new == "text";
    }
    if let Some(ps) = typmod(old, "numeric") {
        return match new {
            "numeric" => true,
            _ => typmod(new, "numeric").is_some_and(|qs| {
                let (p, s) = (ps[0], ps.get(1).copied().unwrap_or(0));
                let (q, t) = (qs[0], qs.get(1).copied().unwrap_or(0));
                q > p && t == s
            }),
        };
    }
    false
}

/// The tables of `new` with a column of an enum type that lost a label from `old` to `new`.
/// PostgreSQL cannot drop a label, only rename one (`ALTER TYPE ... RENAME VALUE`), which
/// changes every row holding it with no row changed as far as any trigger saw: those tables
/// are reloaded.
pub fn tables_of_renamed_labels(
    old: &'static SchemaDef,
    new: &'static SchemaDef,
) -> Vec<&'static TableDef> {
    let lost: Vec<&EnumDef> = new
        .enums
        .iter()
        .filter(|e| {
            old.enums
                .iter()
                .find(|o| (o.schema, o.name) == (e.schema, e.name))
                .is_some_and(|o| o.labels.iter().any(|l| !e.labels.contains(l)))
        })
        .collect();
    new.tables
        .iter()
        .copied()
        .filter(|t| {
            t.columns
                .iter()
                .any(|c| lost.iter().any(|e| names_enum(c.sql_type, e)))
        })
        .collect()
}

/// Whether a column of type `sql_type` (an array of it included) holds values of enum `e`, as
/// the layout may write its name: bare, qualified, quoted or not.
pub fn names_enum(sql_type: &str, e: &EnumDef) -> bool {
    let element = crate::replica::ddl::element_type(sql_type);
    let names = [e.name.to_string(), quote_ident(e.name)];
    let schemas = [e.schema.to_string(), quote_ident(e.schema)];
    names.iter().any(|n| {
        n == element
            || schemas
                .iter()
                .any(|s| element.strip_prefix(s.as_str()) == Some(&format!(".{n}")))
    })
}

/// Where each label `new` adds to `old` goes: `(label, after, before)`, in an order in which
/// the label named as its neighbour always exists by then (after the label that precedes it in
/// `new`, or, for the first, before the first label of `new` that `old` already has).
pub fn label_additions<'a>(
    old: &[&str],
    new: &[&'a str],
) -> Vec<(&'a str, Option<&'a str>, Option<&'a str>)> {
    new.iter()
        .enumerate()
        .filter(|(_, l)| !old.contains(l))
        .map(|(i, &label)| {
            let after = i.checked_sub(1).map(|p| new[p]);
            let before = match after {
                Some(_) => None,
                None => new[i + 1..].iter().copied().find(|l| old.contains(l)),
            };
            (label, after, before)
        })
        .collect()
}

fn quote_ident(name: &str) -> String {
    replgen_schema::quote_ident(name)
}

/// The numbers of `base(a)` or `base(a,b)` (canonical DDL writes `numeric(10,2)`).
fn typmod(sql_type: &str, base: &str) -> Option<Vec<u32>> {
    let inner = sql_type
        .strip_prefix(base)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    inner.split(',').map(|n| n.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn col(name: &'static str, renamed_from: Option<&'static str>) -> ColumnDef {
        ColumnDef {
            name,
            sql_type: "text",
            nullable: true,
            renamed_from,
        }
    }

    const fn table(columns: &'static [ColumnDef]) -> TableDef {
        TableDef {
            id: 1,
            schema: "public",
            name: "t",
            columns,
            key: &[0],
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        }
    }

    #[test]
    fn labels_go_in_where_their_neighbour_already_is() {
        // A first label before labels that are new too: before the first one that exists.
        assert_eq!(
            label_additions(&["sad", "ok"], &["unhappy", "meh", "ok"]),
            [
                ("unhappy", None, Some("ok")),
                ("meh", Some("unhappy"), None)
            ]
        );
        assert_eq!(
            label_additions(&["a", "c"], &["a", "b", "c", "d"]),
            [("b", Some("a"), None), ("d", Some("c"), None)]
        );
        // Nothing in common: each goes at the end, in order.
        assert_eq!(
            label_additions(&["x"], &["p", "q"]),
            [("p", None, None), ("q", Some("p"), None)]
        );
    }

    #[test]
    fn a_lost_label_reloads_every_table_holding_the_enum() {
        static MOOD_OLD: &[EnumDef] = &[EnumDef {
            schema: "public",
            name: "Mood Type",
            labels: &["sad", "ok"],
        }];
        static MOOD_NEW: &[EnumDef] = &[EnumDef {
            schema: "public",
            name: "Mood Type",
            labels: &["unhappy", "ok"],
        }];
        static MOOD_MORE: &[EnumDef] = &[EnumDef {
            schema: "public",
            name: "Mood Type",
            labels: &["sad", "meh", "ok"],
        }];
        static COLUMNS: &[ColumnDef] = &[
            col("id", None),
            ColumnDef {
                name: "m",
                sql_type: "public.\"Mood Type\"[]",
                nullable: true,
                renamed_from: None,
            },
        ];
        static HOLDS: TableDef = table(COLUMNS);
        static PLAIN: TableDef = TableDef {
            id: 2,
            ..table(&[col("id", None)])
        };
        static TABLES: &[&TableDef] = &[&HOLDS, &PLAIN];
        const fn layout(enums: &'static [EnumDef]) -> SchemaDef {
            SchemaDef {
                version: 1,
                fingerprint: "",
                tables: TABLES,
                enums,
                install_sql: "",
                uninstall_sql: "",
                earlier: &[],
            }
        }
        static OLD: SchemaDef = layout(MOOD_OLD);
        static NEW: SchemaDef = layout(MOOD_NEW);
        static MORE: SchemaDef = layout(MOOD_MORE);
        let ids = |v: Vec<&TableDef>| v.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(tables_of_renamed_labels(&OLD, &NEW)), [1]);
        assert!(tables_of_renamed_labels(&OLD, &MORE).is_empty());
        for written in [
            "Mood Type",
            "\"Mood Type\"",
            "public.\"Mood Type\"",
            "public.Mood Type[]",
        ] {
            assert!(names_enum(written, &MOOD_OLD[0]), "{written}");
        }
        assert!(!names_enum("mood", &MOOD_OLD[0]));
    }

    #[test]
    fn a_renamed_column_continues_its_old_column() {
        static OLD: TableDef = table(&[col("id", None), col("a", None), col("b", None)]);
        // b takes a's name after a is dropped.
        static NEW: TableDef = table(&[col("id", None), col("a", Some("b"))]);
        let c = diff_table(&OLD, &NEW).expect("a change");
        let renamed: Vec<_> = c
            .renamed_columns
            .iter()
            .map(|(o, n)| (o.name, n.name))
            .collect();
        assert_eq!(renamed, [("b", "a")]);
        assert_eq!(c.dropped.iter().map(|d| d.name).collect::<Vec<_>>(), ["a"]);
        assert!(c.added.is_empty() && c.retyped.is_empty() && !c.key_changed);
        // Only schema.yaml says it is the same column: the table's rows are sent again.
        assert!(!c.derivable_except_added());
        // A key column renamed is the same key.
        static OLD_KEY: TableDef = table(&[col("id", None), col("v", None)]);
        static NEW_KEY: TableDef = table(&[col("ident", Some("id")), col("v", None)]);
        assert!(!diff_table(&OLD_KEY, &NEW_KEY).unwrap().key_changed);
    }

    #[test]
    fn a_rename_an_earlier_version_published_changes_nothing() {
        static OLD: TableDef = table(&[col("id", None), col("title", None)]);
        static NEW: TableDef = table(&[col("id", None), col("title", Some("label"))]);
        assert!(diff_table(&OLD, &NEW).is_none());
    }

    #[test]
    fn lossless_widenings_are_exactly_the_listed_ones() {
        for (old, new) in [
            ("smallint", "integer"),
            ("integer", "bigint"),
            ("smallint", "bigint"),
            ("character varying(10)", "character varying(255)"),
            ("character varying(10)", "text"),
            ("character varying(10)", "character varying"),
            ("character varying", "text"),
            ("numeric(5,2)", "numeric(10,2)"),
            ("numeric(5,2)", "numeric"),
        ] {
            assert!(is_lossless_widening(old, new), "{old} -> {new}");
        }
        for (old, new) in [
            ("bigint", "integer"),
            ("integer", "integer"),
            ("integer", "text"),
            ("integer", "numeric"),
            ("character varying(255)", "character varying(10)"),
            ("text", "character varying"),
            ("numeric(10,2)", "numeric(12,3)"),
            ("numeric(10,2)", "numeric(8,2)"),
            ("numeric", "numeric(10,2)"),
            ("timestamp without time zone", "timestamp with time zone"),
            ("real", "double precision"),
            ("integer[]", "bigint[]"),
        ] {
            assert!(!is_lossless_widening(old, new), "{old} -> {new}");
        }
    }
}

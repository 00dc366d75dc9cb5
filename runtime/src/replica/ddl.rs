//! The DDL that creates replicated tables from the layout compiled into the binary (never from a
//! feed): `init` creates a new mirror's tables with it, and an upgrade the tables a new version adds.

use crate::def::{EnumDef, TableDef};
use crate::sql;

/// `CREATE TABLE` for one replicated table: its columns in table order with their canonical types
/// and NOT NULL, and its primary key; every identifier quoted.
pub fn create_table(t: &TableDef) -> String {
    sql::for_table("create_table", t)
}

/// `CREATE SCHEMA` for a schema (namespace) a replicated table lives in.
pub fn create_schema(name: &str) -> String {
    sql::create_schema(name)
}

/// `CREATE TYPE ... AS ENUM` for an enum type the layout defines.
pub fn create_enum(e: &EnumDef) -> String {
    sql::create_enum(e)
}

/// The type a column names, without its array suffixes: the type that must exist for the column's
/// type to exist (`character varying(255)[]` needs `character varying(255)`).
pub fn element_type(sql_type: &str) -> &str {
    let mut t = sql_type.trim_end();
    while let Some(rest) = t.strip_suffix("[]") {
        t = rest.trim_end();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::ColumnDef;

    #[test]
    fn hostile_identifiers_are_quoted_and_types_kept_as_the_layout_writes_them() {
        const COLUMNS: &[ColumnDef] = &[
            ColumnDef {
                name: "Key \"x\"",
                sql_type: "integer",
                nullable: false,
                renamed_from: None,
            },
            ColumnDef {
                name: "naïve col",
                sql_type: "character varying(255)[]",
                nullable: true,
                renamed_from: None,
            },
            ColumnDef {
                name: "Part2",
                sql_type: "\"Mood\"",
                nullable: false,
                renamed_from: None,
            },
        ];
        let t = TableDef {
            id: 7,
            schema: "Odd Schema",
            name: "t\"; DROP TABLE x; --",
            columns: COLUMNS,
            key: &[2, 0],
            check_row: |_| Ok(()),
            check_key: |_| Ok(()),
        };
        let ddl = create_table(&t);
        assert_eq!(
            ddl.trim(),
            "CREATE TABLE \"Odd Schema\".\"t\"\"; DROP TABLE x; --\" (\n    \"Key \"\"x\"\"\" integer NOT NULL,\n    \
             \"naïve col\" character varying(255)[],\n    \"Part2\" \"Mood\" NOT NULL,\n    \
             PRIMARY KEY (\"Part2\", \"Key \"\"x\"\"\")\n);"
        );
        assert_eq!(
            create_schema("a\"b").trim(),
            "CREATE SCHEMA IF NOT EXISTS \"a\"\"b\";"
        );
        let e = EnumDef {
            schema: "Sales Dept",
            name: "Mood Type",
            labels: &["it's", "a,b{c}\"d\\e", "NULL", ""],
        };
        assert_eq!(
            create_enum(&e).trim(),
            "CREATE TYPE \"Sales Dept\".\"Mood Type\" AS ENUM ('it''s', 'a,b{c}\"d\\e', 'NULL', '');"
        );
    }

    #[test]
    fn the_element_type_drops_array_suffixes() {
        assert_eq!(element_type("integer[][]"), "integer");
        assert_eq!(
            element_type("character varying(3)[]"),
            "character varying(3)"
        );
        assert_eq!(element_type("uuid"), "uuid");
    }
}

//! The one schema model of replgen: parse `schema.yaml`, validate it (collecting every problem,
//! each with file:line:column), and resolve column types. Shared by the `replgen` generator and
//! the `#[derive(Replicated)]` macro.

pub mod capture;
mod names;
mod types;
mod validate;
mod yaml;

use std::fmt;
use std::path::Path;

pub use names::{
    parse_table_name, quote_ident, rust_field_name, rust_field_names, rust_struct_name,
};
pub use types::{parse_type_name, BaseType, SqlType};

/// The replicated layout described by one schema.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub schema_version: u32,
    /// Sorted by id.
    pub tables: Vec<Table>,
    /// How the install migrations are named (`migrations:` in schema.yaml).
    pub migrations: Migrations,
    /// Ids of dropped tables, never to be used again (`retired_ids:`), sorted.
    pub retired_ids: Vec<u32>,
    /// The enum types the spec defines (`types:`), sorted by (schema, name): what `mirror init`
    /// creates when the database lacks them.
    pub types: Vec<EnumType>,
}

/// An enum type schema.yaml defines: `types: { mood: { enum: [sad, ok, happy] } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    /// The PostgreSQL schema; `public` when the name is not qualified.
    pub schema: String,
    /// The type's exact name (unquoted).
    pub name: String,
    /// The labels, in sort order.
    pub labels: Vec<String>,
}

impl EnumType {
    /// `"schema"."name"`, quoted for SQL.
    pub fn qualified_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The name as schema.yaml writes a type: `name` in `public`, `schema.name` elsewhere, each part
    /// quoted when DDL needs it.
    pub fn written(&self) -> String {
        let part = |p: &str| {
            let plain = p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain {
                p.to_string()
            } else {
                quote_ident(p)
            }
        };
        if self.schema == "public" {
            part(&self.name)
        } else {
            format!("{}.{}", part(&self.schema), part(&self.name))
        }
    }
}

/// The migration tool whose file naming the install migrations follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationStyle {
    /// `V<n>__replgen_capture.sql` (refinery; also what Flyway-like tools accept).
    #[default]
    Refinery,
    /// `<n>_replgen_capture.sql` (sqlx: an integer prefix).
    Sqlx,
}

impl MigrationStyle {
    pub fn parse(s: &str) -> Option<MigrationStyle> {
        match s {
            "refinery" => Some(MigrationStyle::Refinery),
            "sqlx" => Some(MigrationStyle::Sqlx),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStyle::Refinery => "refinery",
            MigrationStyle::Sqlx => "sqlx",
        }
    }

    /// The largest migration number the tool accepts (refinery: i32, sqlx: i64).
    pub fn max_number(self) -> u64 {
        match self {
            MigrationStyle::Refinery => i32::MAX as u64,
            MigrationStyle::Sqlx => i64::MAX as u64,
        }
    }

    /// The install migration's file name for migration number `n`.
    pub fn file_name(self, n: u64) -> String {
        match self {
            MigrationStyle::Refinery => format!("V{n}__replgen_capture.sql"),
            MigrationStyle::Sqlx => format!("{n}_replgen_capture.sql"),
        }
    }

    /// A capture revision's file name for migration number `n` (see [`Layout::migrations`]).
    pub fn revision_file_name(self, n: u64) -> String {
        match self {
            MigrationStyle::Refinery => format!("V{n}__replgen_capture_revision.sql"),
            MigrationStyle::Sqlx => format!("{n}_replgen_capture_revision.sql"),
        }
    }
}

/// The `migrations:` key: the naming style and the current version's migration number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Migrations {
    pub style: MigrationStyle,
    /// The number of the current version's install migration; `schema_version` when absent.
    pub number: Option<u64>,
}

/// A published layout, as a `layouts/v<N>.yaml` file beside the migrations records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The layout itself (its `migrations` is the default; `retired_ids` as recorded).
    pub schema: Schema,
    /// The fingerprint recorded in the file.
    pub fingerprint: String,
    /// The version's install migrations, never empty: the first is the one the version was
    /// published with; each later one a capture revision, written when a newer replgen renders
    /// the same layout's capture differently (a published migration is never rewritten).
    pub migrations: Vec<PublishedMigration>,
    /// The sha256 (hex) of the previous version's layout file, when there is one.
    pub previous_sha256: Option<String>,
}

impl Layout {
    /// The migration the version was published with.
    pub fn first_migration(&self) -> &PublishedMigration {
        &self.migrations[0]
    }

    /// The newest install migration: the capture a master of this version should have.
    pub fn newest_migration(&self) -> &PublishedMigration {
        self.migrations
            .last()
            .expect("a layout records at least one migration")
    }
}

/// One install migration as a layout file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMigration {
    /// The file name, relative to the migrations folder.
    pub file: String,
    /// The sha256 (hex) of its bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub id: u32,
    /// The PostgreSQL schema; `public` when the name is not qualified.
    pub schema: String,
    /// The table's exact name (unquoted).
    pub name: String,
    /// The name as schema.yaml writes it.
    pub written_name: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns`, in key order.
    pub key: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    /// `renamed_from`: the column's name in the previous schema_version, when the application
    /// renamed it. It describes the change, not the layout, so the fingerprint leaves it out; a
    /// name the previous version does not have is ignored (a rename published earlier).
    pub renamed_from: Option<String>,
}

/// One problem in a schema file, located at the offending node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SchemaError {}

/// Every problem found in a schema file, in file order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaErrors(pub Vec<SchemaError>);

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaErrors {}

/// Reads, parses and validates a schema file. Errors name the file as `path` displays.
pub fn load(path: &Path) -> Result<Schema, SchemaErrors> {
    read_then(path, "schema file", parse_str)
}

/// Reads `path` and parses it with `parse`; a read error is one located error.
fn read_then<T>(
    path: &Path,
    what: &str,
    parse: impl FnOnce(&str, &str) -> Result<T, SchemaErrors>,
) -> Result<T, SchemaErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => parse(&src, &file),
        Err(e) => Err(SchemaErrors(vec![SchemaError {
            file,
            line: 0,
            column: 0,
            message: format!("cannot read the {what}: {e}"),
        }])),
    }
}

/// Reads and parses a layout history file (`layouts/v<N>.yaml`).
pub fn load_layout(path: &Path) -> Result<Layout, SchemaErrors> {
    read_then(path, "layout file", parse_layout)
}

/// Parses and validates schema.yaml text; `file` is the name used in error messages.
pub fn parse_str(src: &str, file: &str) -> Result<Schema, SchemaErrors> {
    validate::parse(src, file)
}

/// Parses and validates a layout history file (`layouts/v<N>.yaml`, written by `replgen
/// generate`); `file` is the name used in error messages.
pub fn parse_layout(src: &str, file: &str) -> Result<Layout, SchemaErrors> {
    validate::parse_layout(src, file)
}

impl Table {
    /// The key columns, in key order.
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.key.iter().map(|&i| &self.columns[i])
    }

    /// `"schema"."name"`, quoted for SQL.
    pub fn qualified_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl Schema {
    /// A stable sha256 (hex) of the resolved layout: table ids, schemas, names, column names,
    /// canonical types, nullability and keys. The canonical text is versioned and never changes.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut text = String::from("replgen layout 1\n");
        for t in &self.tables {
            text.push_str(&format!("table\t{}\t{}\t{}\n", t.id, t.schema, t.name));
            for c in &t.columns {
                text.push_str(&format!(
                    "column\t{}\t{}\t{}\n",
                    c.name,
                    c.sql_type.ddl(),
                    if c.nullable { "null" } else { "not null" }
                ));
            }
            text.push_str("key");
            for c in t.key_columns() {
                text.push('\t');
                text.push_str(&c.name);
            }
            text.push('\n');
        }
        // Enum definitions, only when the spec has some: every earlier fingerprint stays valid.
        // Labels are length-prefixed, so no label can imitate another line.
        for e in &self.types {
            text.push_str(&format!("enum\t{}\t{}", e.schema, e.name));
            for l in &e.labels {
                text.push_str(&format!("\t{}:{l}", l.len()));
            }
            text.push('\n');
        }
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The table that `written` names (as schema.yaml writes names: `artist`, `public.artist`,
    /// `musicbrainz.artist`, `"Odd.Name"`).
    pub fn table_by_name(&self, written: &str) -> Option<&Table> {
        let (schema, name) = parse_table_name(written).ok()?;
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    pub fn table_by_id(&self, id: u32) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

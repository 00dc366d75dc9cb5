//! What the generated code hands the runtime: the replicated tables, their columns and keys, and
//! per-table codec entry points, all as `'static` data (no runtime reflection).

use crate::codec::DecodeError;

/// One replicated column as schema.yaml declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// The column's name in PostgreSQL (unquoted, exact).
    pub name: &'static str,
    /// The column's canonical SQL type as DDL writes it, e.g. `character varying(255)[]`.
    pub sql_type: &'static str,
    pub nullable: bool,
    /// Its name in the previous schema_version, when schema.yaml says it was renamed (ignored
    /// where that version has no such column).
    pub renamed_from: Option<&'static str>,
}

/// One replicated table: its stable id, where it lives, its columns and key, and its codec.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// The stable table id written as `tableid` in packets.
    pub id: u32,
    /// The PostgreSQL schema (`public` when schema.yaml names none).
    pub schema: &'static str,
    /// The table's name (unquoted, exact).
    pub name: &'static str,
    /// Every replicated column, in table order.
    pub columns: &'static [ColumnDef],
    /// Indexes into `columns` of the primary-key columns, in key order.
    pub key: &'static [usize],
    /// Decodes a full row (one raw COPY-text field per column, in column order) through the
    /// typed codec and drops it: the defensive check apply runs on every ADD/UPDATE line.
    pub check_row: fn(&[&[u8]]) -> Result<(), DecodeError>,
    /// The same for the key columns alone (one field per key column, in key order): REMOVE lines.
    pub check_key: fn(&[&[u8]]) -> Result<(), DecodeError>,
}

impl TableDef {
    /// `schema.name` as written for people (unquoted).
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The key columns, in key order.
    pub fn key_columns(&self) -> impl Iterator<Item = &'static ColumnDef> + '_ {
        self.key.iter().map(|&i| &self.columns[i])
    }
}

/// An enum type the spec defines (`types:` in schema.yaml): what `init` creates when a mirror's
/// database lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumDef {
    /// The PostgreSQL schema (`public` when schema.yaml names none).
    pub schema: &'static str,
    /// The type's name (unquoted, exact).
    pub name: &'static str,
    /// The labels, in sort order.
    pub labels: &'static [&'static str],
}

/// The whole replicated layout, as one generated constant (`SCHEMA` in the generated module).
#[derive(Debug, Clone, Copy)]
pub struct SchemaDef {
    /// schema.yaml's `schema_version`.
    pub version: u32,
    /// A stable sha256 (hex) of the resolved layout: table ids, names, columns, types, keys.
    pub fingerprint: &'static str,
    /// Every replicated table, sorted by id.
    pub tables: &'static [&'static TableDef],
    /// The enum types the spec defines, sorted by (schema, name).
    pub enums: &'static [EnumDef],
    /// The generated install migration (idempotent).
    pub install_sql: &'static str,
    /// The generated uninstall migration (idempotent).
    pub uninstall_sql: &'static str,
    /// The layouts of every earlier schema_version, oldest first (their own `earlier` and SQL
    /// are empty): a mirror binary applies every packet since the first with the layout it was
    /// cut with, and upgrades its tables at the first packet of a newer version.
    pub earlier: &'static [&'static SchemaDef],
}

impl SchemaDef {
    /// The table with this id, if replicated.
    pub fn table(&self, id: u32) -> Option<&'static TableDef> {
        self.tables
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| self.tables[i])
    }

    /// The layout of `version` this binary knows: itself or one of its earlier layouts.
    pub fn layout(&'static self, version: u32) -> Option<&'static SchemaDef> {
        if version == self.version {
            return Some(self);
        }
        self.earlier.iter().copied().find(|l| l.version == version)
    }

    /// The schema_versions this binary knows, as written for people: `3`, or `1 to 3`.
    pub fn known_versions(&self) -> String {
        match self.earlier.first() {
            Some(oldest) => format!("{} to {}", oldest.version, self.version),
            None => self.version.to_string(),
        }
    }
}

/// A row type with a typed codec, implemented by `#[derive(Replicated)]`.
pub trait Replicated: Sized + 'static {
    /// The table this row type belongs to.
    const TABLE: &'static TableDef;

    /// Appends the row as COPY-text fields, one per column in column order, separated by tabs,
    /// with no trailing tab or newline.
    fn encode_fields(&self, out: &mut Vec<u8>);

    /// Reads a row back from raw COPY-text fields (one per column, in column order).
    fn decode_fields(fields: &[&[u8]]) -> Result<Self, DecodeError>;

    /// Appends the key columns' COPY-text fields (key order, tab-separated).
    fn encode_key_fields(&self, out: &mut Vec<u8>);
}

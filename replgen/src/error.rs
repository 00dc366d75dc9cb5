//! The generator's errors: a schema that contradicts the layout history (bad input, exit 2), a
//! damaged history (exit 1), and internal failures (a template or a Rust type the generator
//! cannot render), each naming what failed.

use std::path::PathBuf;

use crate::history::HistoryError;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("template {name}: {source:#}")]
    Template {
        name: &'static str,
        source: minijinja::Error,
    },
    #[error("Rust type `{rust_type}` for column {column:?} does not parse: {source}")]
    RustType {
        column: String,
        rust_type: String,
        source: syn::Error,
    },
    #[error("generated Rust does not parse: {0}")]
    RustModule(syn::Error),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("the layout history was changed:\n{}", .0.join("\n"))]
    HistoryChanged(Vec<String>),
    #[error(
        "schema_version {version} is lower than {newest}, the newest published version in {}; \
         a version never goes back: set schema_version to {newest} or higher",
        .layouts.display()
    )]
    VersionBehind {
        version: u32,
        newest: u32,
        layouts: PathBuf,
    },
    #[error(
        "the layout changed, but schema_version {version} was already published with another \
         layout ({}): bump schema_version to {} (an earlier version's migration is never \
         rewritten)",
        .layout.display(), .version + 1
    )]
    LayoutChanged { version: u32, layout: PathBuf },
    #[error(
        "schema_version {version} was published with the migration {published}; it cannot be \
         renamed to {wanted} (migration tools refuse a changed migration): keep its naming, and \
         change the style or number with the next schema_version"
    )]
    MigrationRenamed {
        version: u32,
        published: String,
        wanted: String,
    },
    #[error(
        "the migration number {number} of schema_version {version} must be greater than {previous}, \
         the number of schema_version {previous_version}'s migration, so that it runs after it: \
         set migrations.number (or --migration-number) higher"
    )]
    NumberNotAfter {
        version: u32,
        number: u64,
        previous_version: u32,
        previous: u64,
    },
    #[error(
        "this replgen writes the capture of schema_version {version} differently from \
         {published}, which was published with it; a published migration is never rewritten, so \
         the new capture goes out as a capture revision, a migration of its own, and its number \
         must sort after every migration the database has run (greater than {highest}, the \
         highest here): run `replgen generate --migration-number N`. If schema_version {version} \
         was never installed anywhere, deleting {published} and {} and generating again writes \
         it afresh instead",
        .layout.display()
    )]
    RevisionNeedsNumber {
        version: u32,
        published: String,
        highest: u64,
        layout: PathBuf,
    },
    #[error(
        "the capture revision of schema_version {version} must have a migration number greater \
         than {highest} (the highest published or in the migrations folder), not {number}, so \
         that it runs after them: pass a higher --migration-number"
    )]
    RevisionNumberNotAfter {
        version: u32,
        number: u64,
        highest: u64,
    },
    #[error("the migration number {number} is out of range; {style} migration numbers go from 1 to {max}")]
    NumberOutOfRange {
        number: u64,
        style: &'static str,
        max: u64,
    },
    #[error(
        "table {table} has id {id}, which {old} had until schema_version {version}; the ids of \
         dropped tables are never reused: give {table} a new id"
    )]
    IdReused {
        table: String,
        id: u32,
        old: String,
        version: u32,
    },
    #[error(
        "column {column} of table {table} is renamed_from \"{from}\", but {earlier}; \
         renamed_from names the column as the previous version has it"
    )]
    RenamedFromUnknown {
        table: String,
        column: String,
        from: String,
        /// What the history says instead, as a clause.
        earlier: String,
    },
    #[error(
        "table {table} (id {id}) takes the name that table id {other} had in schema_version \
         {version}, which {fate}: a mirror upgrades one table at a time and would find the name \
         taken; {remedy}"
    )]
    NameTaken {
        table: String,
        id: u32,
        other: u32,
        version: u32,
        /// What became of the other table, as a clause.
        fate: String,
        remedy: String,
    },
}

impl GenerateError {
    /// 2 when the input contradicts the history (bad input), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            GenerateError::VersionBehind { .. }
            | GenerateError::LayoutChanged { .. }
            | GenerateError::MigrationRenamed { .. }
            | GenerateError::NumberNotAfter { .. }
            | GenerateError::NumberOutOfRange { .. }
            | GenerateError::RevisionNeedsNumber { .. }
            | GenerateError::RevisionNumberNotAfter { .. }
            | GenerateError::IdReused { .. }
            | GenerateError::RenamedFromUnknown { .. }
            | GenerateError::NameTaken { .. } => 2,
            _ => 1,
        }
    }
}

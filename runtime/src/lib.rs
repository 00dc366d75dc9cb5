//! replgen's runtime: the typed codecs the generated code implements, and the dump, apply,
//! export and import commands a mirror binary runs.

pub mod codec;
pub mod def;
pub mod types;

pub use codec::DecodeError;
pub use def::{ColumnDef, Replicated, SchemaDef, TableDef};

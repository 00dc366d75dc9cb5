//! replgen's runtime: the typed codecs the generated code implements, and the dump, apply,
//! export and import commands a mirror binary runs.

pub mod changes;
pub mod cli;
pub mod codec;
pub mod compare;
pub mod db;
pub mod def;
pub mod dump;
pub mod error;
pub mod export;
pub mod faults;
pub mod fsutil;
pub mod index;
pub mod manifest;
pub mod packet;
pub mod replica;
pub mod source;
pub mod sql;
pub mod timefmt;
pub mod types;

pub use codec::DecodeError;
pub use def::{ColumnDef, Replicated, SchemaDef, TableDef};
pub use error::Error;
pub use replgen_macros::Replicated;

//! replgen's runtime: the dump, export, import and apply commands a mirror binary runs, on top of
//! the I/O-free data format of `replgen-format`, which it re-exports whole (so generated code and
//! readers name `replgen_runtime::types`, `::codec`, `::packet`, ... either way).
//!
//! By concept: [`master`] cuts packets and exports on the master; [`feed`] is the folder they
//! are published into; [`replica`] applies and imports on a mirror; [`source`] is where a
//! replica reads a feed from; [`cli`] is the command line. [`db`] and [`sql`] are the
//! connection and the SQL templates all of them share.

pub mod bucket;
pub mod cli;
pub mod compare;
pub mod db;
pub mod error;
pub mod faults;
pub mod feed;
pub mod layout_change;
pub mod master;
pub mod redact;
pub mod replica;
pub mod signing;
pub mod source;
pub mod sql;
pub mod tally;
pub mod temp;

#[cfg(feature = "chrono")]
pub use replgen_format::chrono;
#[cfg(feature = "rust_decimal")]
pub use replgen_format::rust_decimal;
#[cfg(feature = "serde_json")]
pub use replgen_format::serde_json;
#[cfg(feature = "time")]
pub use replgen_format::time;
pub use replgen_format::{changes, codec, def, index, manifest, packet, timefmt, types};
pub use replgen_format::{ColumnDef, DecodeError, Replicated, SchemaDef, TableDef};

pub use error::Error;

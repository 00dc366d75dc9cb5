//! The replgen data format, free of I/O of its own: the typed COPY-text codecs that
//! `#[derive(Replicated)]` implements, the packet, `index.xml` and export-manifest readers and
//! writers, and the typed change reader. No database, network or command-line dependency: a
//! program that only reads packets needs nothing else. The runtime (`replgen-runtime`) builds
//! dump and apply on top of it and re-exports it whole.

// The derive names this crate by its absolute path, also inside the crate's own tests.
extern crate self as replgen_format;

pub mod changes;
pub mod codec;
pub mod def;
pub mod index;
pub mod manifest;
pub mod packet;
pub mod timefmt;
pub mod types;
mod xml;

pub use codec::DecodeError;
pub use def::{ColumnDef, Replicated, SchemaDef, TableDef};
pub use replgen_macros::Replicated;

// The crates of the library types (README, "Library types"), so that a program names the very
// versions the codecs implement.
#[cfg(feature = "chrono")]
pub use chrono;
#[cfg(feature = "rust_decimal")]
pub use rust_decimal;
#[cfg(feature = "serde_json")]
pub use serde_json;
#[cfg(feature = "time")]
pub use time;

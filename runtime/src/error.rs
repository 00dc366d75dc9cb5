//! The runtime's errors: one variant per kind of failure, so callers and tests match on what
//! happened, each displayed as a sentence or two that says what failed and where.

use std::io;

use crate::codec::DecodeError;
use crate::index::IndexError;
use crate::manifest::ManifestError;
use crate::packet::PacketError;
use crate::source::FetchError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {}", describe_db(source))]
    Db {
        context: String,
        source: postgres::Error,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("packet {serial} ({path}): {source}")]
    Packet {
        serial: u64,
        path: String,
        source: PacketError,
    },
    #[error("packet {serial} ({path}): {source}")]
    Decode {
        serial: u64,
        path: String,
        source: Box<DecodeError>,
    },
    /// A packet whose header contradicts the index that lists it.
    #[error("packet {serial} ({path}): {reason}")]
    PacketMismatch {
        serial: u64,
        path: String,
        reason: String,
    },
    /// An export whose manifest or files are not what the index promised.
    #[error("export {serial}: {reason}")]
    Export { serial: u64, reason: String },
    #[error("export {serial}: {source}")]
    Manifest { serial: u64, source: ManifestError },

    // The master.
    #[error("change capture is not installed in this database; run the `install` command (or the generated migration) first")]
    NotInstalled,
    #[error(
        "the database's capture is for schema_version {installed_version} (fingerprint {}), but this binary was \
         generated for schema_version {binary_version} (fingerprint {}); apply the current install migration",
        short(installed_fingerprint),
        short(binary_fingerprint)
    )]
    CaptureMismatch {
        installed_version: u32,
        installed_fingerprint: String,
        binary_version: u32,
        binary_fingerprint: String,
    },
    /// The database says a file was published, but the feed folder does not have it.
    #[error(
        "packet {serial} was committed but its file {path} is missing and no intact temporary copy exists; \
         restore the feed folder from a backup"
    )]
    PublishedFileMissing { serial: u64, path: String },
    #[error("export {serial} was committed but its folder is missing; run `export` again")]
    ExportFolderMissing { serial: u64 },
    #[error("{what} has {value}, beyond the largest this feed can hold ({max})")]
    OutOfRange { what: String, value: u64, max: u64 },

    // The replica.
    #[error(
        "the replica is at packet {replica}, but the feed's newest packet is {newest}: \
         the feed was rolled back or this replica follows another master"
    )]
    FeedBehindReplica { replica: u64, newest: u64 },
    #[error(
        "the replica is at packet {replica}, but the oldest packet the feed still lists is {oldest}; {}",
        if *has_position { "import the latest export to catch up" }
        else { "this replica has no position yet: import the latest export first (`import`)" }
    )]
    TooFarBehind {
        replica: u64,
        oldest: u64,
        has_position: bool,
    },
    #[error(
        "{what} is for schema_version {version}, but this binary is for schema_version {binary_version}; \
         upgrade the replica's tables and this binary to the feed's schema, then import the latest export"
    )]
    SchemaVersion {
        what: String,
        version: u32,
        binary_version: u32,
    },
    #[error(
        "{what} has schema_version {version} but a different table layout (fingerprint {}…, this binary {}…); \
         regenerate this binary from the master's schema.yaml",
        short(fingerprint),
        short(binary_fingerprint)
    )]
    SchemaLayout {
        what: String,
        version: u32,
        fingerprint: String,
        binary_fingerprint: String,
    },
    #[error("packet {serial} ({path}): the replica already applied it (replica is at packet {at}); a packet is never applied twice")]
    AlreadyApplied { serial: u64, path: String, at: u64 },
    #[error("packet {serial} ({path}): the replica is at packet {at}; packets apply in order, and {} comes next", at + 1)]
    OutOfOrder { serial: u64, path: String, at: u64 },
    #[error("the feed at {feed} lists no export; run `export` on the master")]
    NoExport { feed: String },
    #[error("the replica is not empty ({reason}); import loads only into empty tables, or pass --replace to overwrite them")]
    NotEmpty { reason: String },
    /// The replica's database refused a row the codec accepted (a constraint, a type).
    #[error("{what}: the replica refused a row: {reason}")]
    RowRefused { what: String, reason: String },

    // Tools.
    #[error("{differing} of {tables} tables differ")]
    TablesDiffer { differing: usize, tables: usize },
    #[error("{0}")]
    Busy(&'static str),
    #[error("interrupted (SIGINT or SIGTERM); nothing was changed")]
    Interrupted,
    /// Something in the feed folder the dumper did not make (a symlink, a file for a folder).
    #[error("{path}: {reason}; refusing to use it (remove it if nothing needs it)")]
    UnsafeFeedPath { path: String, reason: String },
}

fn short(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

/// `postgres::Error` displays only its kind ("db error"); the server's message, detail and hint
/// (or the underlying I/O cause) are in its source, and they are what a person needs to read.
fn describe_db(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!(" (hint: {hint})"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a context sentence to database and I/O errors.
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, postgres::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Db {
            context: context(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}

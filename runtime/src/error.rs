//! The runtime's errors: each says what failed and where, in a sentence or two.

use std::io;

use crate::codec::DecodeError;
use crate::index::IndexError;
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
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code: 2 for bad usage, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
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

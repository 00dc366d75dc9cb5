//! The field encoding of packets: PostgreSQL's COPY text format (one field per column, tab
//! separated, `\N` for NULL, backslash escapes), and the typed value codecs behind it.

use std::fmt;

/// Why a field, row or line could not be decoded. Carries what is known of where: the table,
/// the column, the row's key, and the packet line (filled in by whoever knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub table: Option<String>,
    pub column: Option<String>,
    pub key: Option<String>,
    pub line: Option<u64>,
    pub reason: String,
}

impl DecodeError {
    pub fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError { table: None, column: None, key: None, line: None, reason: reason.into() }
    }

    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table.get_or_insert_with(|| table.into());
        self
    }

    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.column.get_or_insert_with(|| column.into());
        self
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key.get_or_insert_with(|| key.into());
        self
    }

    pub fn with_line(mut self, line: u64) -> Self {
        self.line.get_or_insert(line);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        match (&self.table, &self.column) {
            (Some(t), Some(c)) => write!(f, "{t}.{c}: ")?,
            (Some(t), None) => write!(f, "{t}: ")?,
            (None, Some(c)) => write!(f, "column {c}: ")?,
            (None, None) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "(key {key}) ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

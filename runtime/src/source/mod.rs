//! Where a replica reads a feed from: a directory (or `file://` URL) or an `http(s)://` base URL.
//! Every file is fetched into a local temporary file while its size and sha256 are checked
//! against the index; nothing read from the network is trusted before that.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::feed::durable::HashingWriter;
use crate::index::{check_relative_path, Index};

mod http;

/// The largest index.xml accepted.
const MAX_INDEX_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub enum Source {
    Dir(PathBuf),
    Http { base: String, agent: ureq::Agent },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
    #[error("{what} is {size} bytes, but the index lists {expected}")]
    Size {
        what: String,
        size: u64,
        expected: u64,
    },
    #[error("{what} has sha256 {actual}, but the index lists {expected}: the file is corrupt or was tampered with")]
    Sha256 {
        what: String,
        actual: String,
        expected: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Source {
    /// `DIR`, `file:///DIR` or `http(s)://host/base`.
    pub fn parse(spec: &str) -> Source {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let agent = ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(15))
                .timeout_read(Duration::from_secs(60))
                .build();
            Source::Http {
                base: spec.trim_end_matches('/').to_string(),
                agent,
            }
        } else {
            let path = spec.strip_prefix("file://").unwrap_or(spec);
            Source::Dir(PathBuf::from(path))
        }
    }

    pub fn describe(&self, rel: &str) -> String {
        match self {
            Source::Dir(dir) => dir.join(rel).display().to_string(),
            Source::Http { base, .. } => format!("{base}/{rel}"),
        }
    }

    /// Reads and parses index.xml.
    pub fn index(&self) -> Result<Index, FetchError> {
        let mut bytes = Vec::new();
        self.read_into("index.xml", &mut bytes, MAX_INDEX_BYTES)?;
        Index::parse(&bytes)
            .map_err(|e| FetchError::Invalid(format!("{}: {e}", self.describe("index.xml"))))
    }

    /// Reads a small file whole (at most `limit` bytes).
    pub fn read_into(&self, rel: &str, out: &mut Vec<u8>, limit: u64) -> Result<(), FetchError> {
        check_relative_path(rel).map_err(FetchError::Invalid)?;
        let what = self.describe(rel);
        let mut reader = self.open(rel)?;
        reader
            .by_ref()
            .take(limit.saturating_add(1))
            .read_to_end(out)
            .map_err(|source| FetchError::Io {
                what: what.clone(),
                source,
            })?;
        if out.len() as u64 > limit {
            return Err(FetchError::Invalid(format!(
                "{what} is larger than {limit} bytes"
            )));
        }
        Ok(())
    }

    /// Copies `rel` into `dest`, refusing it unless its size and sha256 are the expected ones.
    pub fn fetch_verified(
        &self,
        rel: &str,
        size: u64,
        sha256: &str,
        dest: &Path,
    ) -> Result<(), FetchError> {
        check_relative_path(rel).map_err(FetchError::Invalid)?;
        let what = self.describe(rel);
        let io_err = |source| FetchError::Io {
            what: what.clone(),
            source,
        };
        let mut reader = self.open(rel)?;
        let file = File::create(dest).map_err(|source| FetchError::Io {
            what: dest.display().to_string(),
            source,
        })?;
        let mut hashing = HashingWriter::new(io::BufWriter::new(file));
        // Never trust the size the other side claims: read at most one byte more than listed.
        io::copy(
            &mut reader.by_ref().take(size.saturating_add(1)),
            &mut hashing,
        )
        .map_err(io_err)?;
        let (mut out, actual, got) = hashing.finish();
        out.flush().map_err(io_err)?;
        if got != size {
            return Err(FetchError::Size {
                what,
                size: got,
                expected: size,
            });
        }
        if actual != sha256 {
            return Err(FetchError::Sha256 {
                what,
                actual,
                expected: sha256.to_string(),
            });
        }
        Ok(())
    }

    fn open(&self, rel: &str) -> Result<Box<dyn Read + Send>, FetchError> {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(rel);
                File::open(&path)
                    .map(|f| Box::new(f) as Box<dyn Read + Send>)
                    .map_err(|source| FetchError::Io {
                        what: path.display().to_string(),
                        source,
                    })
            }
            Source::Http { base, agent } => http::open(agent, &format!("{base}/{rel}")),
        }
    }
}

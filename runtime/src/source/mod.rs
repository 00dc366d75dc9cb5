//! Where a replica reads a feed from: a directory (or `file://` URL) or an `http(s)://` base URL.
//! Every file is fetched into a local temporary file while its size and sha256 are checked
//! against the index; nothing read from the network is trusted before that.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::feed::durable::HashingWriter;
use crate::index::{check_relative_path, Index};

mod http;

/// The largest index.xml accepted.
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// How long a download may take, and the flag that stops it (set by SIGINT and SIGTERM).
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Every request's deadline starts here (the index gets exactly this).
    pub floor: Duration,
    /// Plus the listed size at this many bytes per second.
    pub min_rate: u64,
    pub stop: Arc<AtomicBool>,
}

impl FetchOptions {
    pub const DEFAULT_FLOOR: Duration = Duration::from_secs(30);
    pub const DEFAULT_MIN_RATE: u64 = 64 << 10;

    /// The deadline of a file listed with `size` bytes (`None`: unknown, the floor alone).
    pub fn deadline(&self, size: Option<u64>) -> Duration {
        let rate = self.min_rate.max(1);
        let extra = size.map(|s| s.div_ceil(rate)).unwrap_or(0);
        self.floor
            .saturating_add(Duration::from_secs(extra.min(100 * 365 * 86_400)))
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            floor: Self::DEFAULT_FLOOR,
            min_rate: Self::DEFAULT_MIN_RATE,
            stop: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    Dir(PathBuf),
    Http {
        base: String,
        agent: ureq::Agent,
        opts: FetchOptions,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
    #[error("{url}: not fetched within its deadline of {} (see --fetch-timeout and --min-rate)", show_duration(*limit))]
    Deadline { url: String, limit: Duration },
    #[error(
        "{url}: interrupted (SIGINT or SIGTERM) during the download; nothing of it was applied"
    )]
    Interrupted { url: String },
    #[error("{url}: redirect refused: {reason}")]
    Redirect { url: String, reason: String },
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

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

impl Source {
    /// `DIR`, `file:///DIR` or `http(s)://host/base`.
    pub fn parse(spec: &str, opts: FetchOptions) -> Source {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            // Redirects are followed by `http`, which refuses any scheme but http(s).
            let agent = ureq::AgentBuilder::new()
                .redirects(0)
                .timeout_connect(Duration::from_secs(15))
                .build();
            Source::Http {
                base: spec.trim_end_matches('/').to_string(),
                agent,
                opts,
            }
        } else {
            let path = spec.strip_prefix("file://").unwrap_or(spec);
            Source::Dir(PathBuf::from(path))
        }
    }

    /// Where `rel` is, as it may be printed (no user name or password).
    pub fn describe(&self, rel: &str) -> String {
        match self {
            Source::Dir(dir) => dir.join(rel).display().to_string(),
            Source::Http { base, .. } => crate::redact::urls(&format!("{base}/{rel}")),
        }
    }

    /// Reads and parses index.xml.
    pub fn index(&self) -> Result<Index, FetchError> {
        let bytes = self.read_small("index.xml", MAX_INDEX_BYTES)?;
        Index::parse(&bytes)
            .map_err(|e| FetchError::Invalid(format!("{}: {e}", self.describe("index.xml"))))
    }

    /// Reads a small file whole (at most `limit` bytes), within the floor deadline.
    pub fn read_small(&self, rel: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        check_relative_path(rel).map_err(FetchError::Invalid)?;
        let what = self.describe(rel);
        let read = move |reader: &mut dyn Read| {
            let mut out = Vec::new();
            reader
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|source| FetchError::Io {
                    what: what.clone(),
                    source,
                })?;
            if out.len() as u64 > limit {
                return Err(FetchError::Invalid(format!(
                    "{what} is larger than {limit} bytes"
                )));
            }
            Ok(out)
        };
        self.fetch(rel, None, read)
    }

    /// Copies `rel` into a private, nameless file in `dir`, refusing it unless its size and
    /// sha256 are the expected ones; the file comes back rewound, so the bytes read from it are
    /// the very bytes verified (nobody can swap it by name in between).
    pub fn fetch_verified(
        &self,
        rel: &str,
        size: u64,
        sha256: &str,
        dir: &Path,
    ) -> Result<File, FetchError> {
        check_relative_path(rel).map_err(FetchError::Invalid)?;
        let what = self.describe(rel);
        let file = tempfile::tempfile_in(dir).map_err(|source| FetchError::Io {
            what: format!("a temporary file in {}", dir.display()),
            source,
        })?;
        let sha256 = sha256.to_string();
        self.fetch(rel, Some(size), move |reader| {
            verify_into(reader, file, size, &sha256, what)
        })
    }

    fn fetch<T: Send + 'static>(
        &self,
        rel: &str,
        size: Option<u64>,
        consume: impl FnOnce(&mut dyn Read) -> Result<T, FetchError> + Send + 'static,
    ) -> Result<T, FetchError> {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(rel);
                let mut file = File::open(&path).map_err(|source| FetchError::Io {
                    what: path.display().to_string(),
                    source,
                })?;
                consume(&mut file)
            }
            Source::Http { base, agent, opts } => http::fetch(
                agent,
                &format!("{base}/{rel}"),
                opts.deadline(size),
                opts,
                consume,
            ),
        }
    }
}

/// Copies at most `size + 1` bytes of `reader` into `file`, checks size and sha256, rewinds.
fn verify_into(
    reader: &mut dyn Read,
    file: File,
    size: u64,
    sha256: &str,
    what: String,
) -> Result<File, FetchError> {
    let io_err = |source| FetchError::Io {
        what: what.clone(),
        source,
    };
    let mut hashing = HashingWriter::new(io::BufWriter::new(file));
    // Never trust the size the other side claims: read at most one byte more than listed.
    io::copy(&mut reader.take(size.saturating_add(1)), &mut hashing).map_err(io_err)?;
    let (out, actual, got) = hashing.finish();
    let mut file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
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
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    Ok(file)
}

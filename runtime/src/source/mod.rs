//! Where a replica reads a feed from: a directory (or `file://` URL), an `http(s)://` base URL,
//! or object storage (`s3://bucket/prefix`, `gs://...`, `az://...`, with the service's
//! credentials from the environment).
//! Every file is fetched into a local temporary file while its size and sha256 are checked
//! against the index; nothing read from the network is trusted before that.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::feed::durable::HashingWriter;
use crate::index::{check_relative_path, Index};
use crate::signing::{self, TrustedKey, Verdict, SIGNATURE_FILE};
use crate::timefmt;

mod http;
mod object;

/// The largest index.xml accepted.
const MAX_INDEX_BYTES: u64 = 64 << 20;
/// The largest index.xml.minisig accepted (a few hundred bytes per signing key).
const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// How long a download may take, and the flag that stops it (set by SIGINT and SIGTERM).
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Every request's deadline starts here (the index gets exactly this).
    pub floor: Duration,
    /// Plus the listed size at this many bytes per second.
    pub min_rate: u64,
    pub stop: Arc<AtomicBool>,
    /// The keys index.xml must be signed by, and how old it may be.
    pub trust: Trust,
}

/// What a replica requires of a feed's index before trusting anything in it.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// With any key, the index must carry a valid signature by one of them.
    pub keys: Vec<TrustedKey>,
    /// Refuse an index published longer ago than this (a frozen or replayed feed).
    pub max_age: Option<Duration>,
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
            trust: Trust::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    place: Place,
    trust: Trust,
}

#[derive(Debug, Clone)]
enum Place {
    Dir(PathBuf),
    Http {
        base: String,
        agent: ureq::Agent,
        opts: FetchOptions,
    },
    /// Object storage; an URL that cannot be opened fails at the first fetch, naming why.
    Object {
        url: String,
        bucket: Result<Arc<crate::bucket::Bucket>, String>,
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
    /// The index fails the checks `--trust-key` and `--max-age` ask for.
    #[error("{what}: refused, not trusted: {reason}; nothing was changed")]
    Untrusted { what: String, reason: String },
}

impl FetchError {
    /// The file does not exist (a folder's missing file, or an http 404/410).
    pub fn is_not_found(&self) -> bool {
        match self {
            FetchError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            FetchError::Status { status, .. } => matches!(status, 404 | 410),
            _ => false,
        }
    }
}

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

impl Source {
    /// `DIR`, `file:///DIR`, `http(s)://host/base` or `s3://bucket/prefix` (`gs://`, `az://`).
    pub fn parse(spec: &str, opts: FetchOptions) -> Source {
        if crate::bucket::is_object_url(spec) {
            let bucket = crate::bucket::Bucket::open(spec)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            return Source {
                trust: opts.trust.clone(),
                place: Place::Object {
                    url: crate::redact::urls(spec.trim_end_matches('/')),
                    bucket,
                    opts,
                },
            };
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            // Redirects are followed by `http`, which refuses any scheme but http(s).
            let agent = ureq::AgentBuilder::new()
                .redirects(0)
                .timeout_connect(Duration::from_secs(15))
                .build();
            Source {
                trust: opts.trust.clone(),
                place: Place::Http {
                    base: spec.trim_end_matches('/').to_string(),
                    agent,
                    opts,
                },
            }
        } else {
            let path = spec.strip_prefix("file://").unwrap_or(spec);
            Source {
                place: Place::Dir(PathBuf::from(path)),
                trust: opts.trust,
            }
        }
    }

    /// Where `rel` is, as it may be printed (no user name or password).
    pub fn describe(&self, rel: &str) -> String {
        match &self.place {
            Place::Dir(dir) => dir.join(rel).display().to_string(),
            Place::Http { base, .. } => crate::redact::urls(&format!("{base}/{rel}")),
            Place::Object { url, .. } => format!("{url}/{rel}"),
        }
    }

    /// Reads and parses index.xml; with trusted keys, only once its signature by one of them
    /// checks out over its exact bytes. An index and signature that do not match (fetched
    /// between two updates of the feed) are fetched again once.
    pub fn index(&self) -> Result<Index, FetchError> {
        let untrusted = |reason: String| FetchError::Untrusted {
            what: self.describe("index.xml"),
            reason,
        };
        let bytes = if self.trust.keys.is_empty() {
            self.read_small("index.xml", MAX_INDEX_BYTES)?
        } else {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let bytes = self.read_small("index.xml", MAX_INDEX_BYTES)?;
                let signature = match self.read_small(SIGNATURE_FILE, MAX_SIGNATURE_BYTES) {
                    Ok(signature) => signature,
                    Err(e) if e.is_not_found() => {
                        return Err(untrusted(format!(
                            "the feed is not signed ({} is missing)",
                            self.describe(SIGNATURE_FILE)
                        )))
                    }
                    Err(e) => return Err(e),
                };
                let signature = String::from_utf8_lossy(&signature);
                match signing::verify(&bytes, &signature, &self.trust.keys) {
                    Verdict::Trusted(key) => {
                        tracing::debug!("index.xml is signed by the trusted key {key}");
                        break bytes;
                    }
                    Verdict::Mismatch if attempt == 1 => {
                        tracing::info!(
                            "index.xml and its signature do not match; fetching both again"
                        );
                    }
                    Verdict::Mismatch => return Err(untrusted(
                        "its signature by a trusted key does not match its bytes (fetched twice): \
                             the index was altered or the signature is stale"
                            .into(),
                    )),
                    Verdict::NoTrustedKey(ids) => {
                        let by = if ids.is_empty() {
                            format!(
                                "{} holds no minisign signature",
                                self.describe(SIGNATURE_FILE)
                            )
                        } else {
                            format!(
                                "it is signed only by key(s) {}, none of them trusted",
                                ids.join(", ")
                            )
                        };
                        return Err(untrusted(format!("{by} (see --trust-key)")));
                    }
                }
            }
        };
        let index = Index::parse(&bytes)
            .map_err(|e| FetchError::Invalid(format!("{}: {e}", self.describe("index.xml"))))?;
        if let Some(max_age) = self.trust.max_age {
            let Some(published) = index.published.as_deref() else {
                return Err(untrusted(
                    "it carries no publication time, so --max-age cannot be checked".into(),
                ));
            };
            let at = timefmt::parse_epoch(published)
                .ok_or_else(|| untrusted(format!("published=\"{published}\" is not a time")))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let age = now - at;
            if age > max_age.as_secs_f64() {
                return Err(untrusted(format!(
                    "it was published at {published}, {:.0} s ago, longer than --max-age {} s: \
                     the feed is frozen or an old index is being replayed",
                    age,
                    max_age.as_secs()
                )));
            }
        }
        Ok(index)
    }

    /// Whether the index must be signed.
    pub fn requires_signature(&self) -> bool {
        !self.trust.keys.is_empty()
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
    pub fn fetch_verified(&self, rel: &str, size: u64, sha256: &str) -> Result<File, FetchError> {
        check_relative_path(rel).map_err(FetchError::Invalid)?;
        let what = self.describe(rel);
        let file = crate::temp::nameless_file().map_err(|source| FetchError::Io {
            what: crate::temp::describe(),
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
        match &self.place {
            Place::Dir(dir) => {
                let mut file = open_regular(&dir.join(rel))?;
                consume(&mut file)
            }
            Place::Http { base, agent, opts } => http::fetch(
                agent,
                &format!("{base}/{rel}"),
                opts.deadline(size),
                opts,
                consume,
            ),
            Place::Object { bucket, opts, .. } => match bucket {
                Ok(bucket) => object::fetch(bucket, rel, opts.deadline(size), opts, consume),
                Err(reason) => Err(FetchError::Invalid(reason.clone())),
            },
        }
    }
}

/// Opens a local feed's file for reading, refusing anything but a regular file. Opened
/// non-blocking and checked on the open handle, so a FIFO (or a device) planted in the folder
/// neither blocks the command nor is read.
fn open_regular(path: &Path) -> Result<File, FetchError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_err = |source| FetchError::Io {
        what: path.display().to_string(),
        source,
    };
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err)?;
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(FetchError::Invalid(format!(
            "{}: not a regular file (a FIFO or device in the feed folder?); refusing to read it",
            path.display()
        )));
    }
    Ok(file)
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
    // A full or broken temporary folder is named as such, not as the file being fetched.
    let temp_err = |source| FetchError::Io {
        what: crate::temp::describe(),
        source,
    };
    let mut hashing = HashingWriter::new(io::BufWriter::new(file));
    // Never trust the size the other side claims: read at most one byte more than listed.
    let mut limited = reader.take(size.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        hashing.write_all(&buf[..n]).map_err(temp_err)?;
    }
    let (out, actual, got) = hashing.finish();
    let mut file = out.into_inner().map_err(|e| temp_err(e.into_error()))?;
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
    file.seek(SeekFrom::Start(0)).map_err(temp_err)?;
    Ok(file)
}

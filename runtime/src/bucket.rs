//! A feed in object storage (S3 and S3-compatible servers, Google Cloud Storage, Azure Blob
//! Storage) through the `object_store` crate, behind a blocking interface: every call runs on a
//! small current-thread tokio runtime owned by the [`Bucket`], so the rest of the runtime stays
//! synchronous. Credentials come from each service's standard environment variables.
//!
//! Errors are `io::Error`s (NotFound kept as such) whose message names the object and never
//! carries credentials, so the feed and the replica's source wrap them like file errors.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload, RetryConfig,
};

/// Files up to this size are uploaded in one request; larger ones in parts of this size.
const PART_SIZE: usize = 16 << 20;

/// The URL schemes of object storage (`s3://bucket/prefix`, `gs://...`, `az://...`).
const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Whether `spec` names object storage rather than a folder or an http(s) URL.
pub fn is_object_url(spec: &str) -> bool {
    spec.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme))
}

/// A prefix in a bucket, read and written with blocking calls.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    /// The URL as given, credentials removed, without a trailing slash.
    url: String,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

impl Bucket {
    /// Opens `url` (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`) with
    /// the service's credentials from the environment (for S3: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP, ...).
    pub fn open(url: &str) -> io::Result<Bucket> {
        let shown = crate::redact::urls(url.trim_end_matches('/'));
        let invalid = |reason: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{shown} is not a usable object storage URL: {reason}"),
            )
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let (scheme, prefix) =
            ObjectStoreScheme::parse(&parsed).map_err(|e| invalid(redact(&e)))?;
        // The replica's own deadlines (--fetch-timeout, --min-rate) bound downloads; a request
        // here may take as long as a large part needs.
        // (Set key by key: the builders' client options also hold what the environment said,
        // such as AWS_ALLOW_HTTP.)
        let client = [
            (ClientConfigKey::Timeout, "600s"),
            (ClientConfigKey::ConnectTimeout, "15s"),
        ];
        let retry = RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
            ..Default::default()
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::AmazonS3 => Arc::new(
                client
                    .iter()
                    .fold(
                        object_store::aws::AmazonS3Builder::from_env().with_url(url),
                        |b, (key, value)| {
                            b.with_config(
                                object_store::aws::AmazonS3ConfigKey::Client(*key),
                                *value,
                            )
                        },
                    )
                    .with_retry(retry)
                    .build()
                    .map_err(|e| invalid(redact(&e)))?,
            ),
            ObjectStoreScheme::GoogleCloudStorage => Arc::new(
                client
                    .iter()
                    .fold(
                        object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url),
                        |b, (key, value)| {
                            b.with_config(object_store::gcp::GoogleConfigKey::Client(*key), *value)
                        },
                    )
                    .with_retry(retry)
                    .build()
                    .map_err(|e| invalid(redact(&e)))?,
            ),
            ObjectStoreScheme::MicrosoftAzure => Arc::new(
                client
                    .iter()
                    .fold(
                        object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url),
                        |b, (key, value)| {
                            b.with_config(object_store::azure::AzureConfigKey::Client(*key), *value)
                        },
                    )
                    .with_retry(retry)
                    .build()
                    .map_err(|e| invalid(redact(&e)))?,
            ),
            _ => return Err(invalid("not an object storage scheme".into())),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Bucket {
            store,
            prefix,
            url: shown,
            rt,
        })
    }

    /// Where `rel` (a path relative to the feed's root) is, as it may be printed.
    pub fn describe(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    /// The feed's root, as it may be printed.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, rel: &str) -> Key {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    fn error(&self, what: &str, rel: &str, e: object_store::Error) -> io::Error {
        let kind = match e {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(
            kind,
            format!("cannot {what} {}: {}", self.describe(rel), redact(&e)),
        )
    }

    /// The object's bytes; none when it does not exist.
    pub fn get(&self, rel: &str) -> io::Result<Option<Vec<u8>>> {
        let key = self.key(rel);
        let result = self.rt.block_on(async {
            let got = self.store.get(&key).await?;
            got.bytes().await
        });
        match result {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read", rel, e)),
        }
    }

    /// The object's size; none when it does not exist.
    pub fn head(&self, rel: &str) -> io::Result<Option<u64>> {
        match self.rt.block_on(self.store.head(&self.key(rel))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("inspect", rel, e)),
        }
    }

    /// Writes the object whole (an object store replaces an object atomically).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.rt
            .block_on(self.store.put(&self.key(rel), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.error("write", rel, e))
    }

    /// Uploads a local file as the object `rel`: in one request when small, otherwise in parts
    /// read one at a time (memory stays at one part); the object appears only once complete.
    pub fn upload(&self, rel: &str, file: &std::path::Path) -> io::Result<()> {
        let mut file = std::fs::File::open(file)?;
        let size = file.metadata()?.len();
        if size <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)?;
            return self.put(rel, bytes);
        }
        let key = self.key(rel);
        let result: Result<(), UploadError> = self.rt.block_on(async {
            let mut upload = self.store.put_multipart(&key).await?;
            loop {
                let mut part = Vec::with_capacity(PART_SIZE);
                // A blocking read on the runtime's only thread: nothing else runs meanwhile.
                (&mut file).take(PART_SIZE as u64).read_to_end(&mut part)?;
                if part.is_empty() {
                    break;
                }
                if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
            }
            if let Err(e) = upload.complete().await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
            Ok(())
        });
        result.map_err(|e| match e {
            UploadError::Store(e) => self.error("upload", rel, e),
            UploadError::Io(e) => e,
        })
    }

    /// Deletes the object; deleting one that does not exist is not an error.
    pub fn delete(&self, rel: &str) -> io::Result<()> {
        match self.rt.block_on(self.store.delete(&self.key(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", rel, e)),
        }
    }

    /// Every object under the folder `under` (relative to the root), as paths relative to the
    /// root, sorted.
    pub fn list(&self, under: &str) -> io::Result<Vec<String>> {
        let key = self.key(under);
        let root_parts = self.prefix.parts().count();
        let listed: Result<Vec<String>, object_store::Error> = self.rt.block_on(async {
            let mut stream = self.store.list(Some(&key));
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                let rel: Vec<String> = meta
                    .location
                    .parts()
                    .skip(root_parts)
                    .map(|p| p.as_ref().to_string())
                    .collect();
                out.push(rel.join("/"));
            }
            Ok(out)
        });
        let mut listed = listed.map_err(|e| self.error("list", under, e))?;
        listed.sort();
        Ok(listed)
    }

    /// A blocking reader of the object's bytes, streamed (never held whole).
    pub fn reader(self: &Arc<Self>, rel: &str) -> io::Result<ObjectReader> {
        let got = self
            .rt
            .block_on(self.store.get(&self.key(rel)))
            .map_err(|e| self.error("read", rel, e))?;
        Ok(ObjectReader {
            bucket: Arc::clone(self),
            rel: rel.to_string(),
            stream: got.into_stream(),
            chunk: bytes::Bytes::new(),
        })
    }
}

enum UploadError {
    Store(object_store::Error),
    Io(io::Error),
}

impl From<object_store::Error> for UploadError {
    fn from(e: object_store::Error) -> Self {
        UploadError::Store(e)
    }
}

impl From<io::Error> for UploadError {
    fn from(e: io::Error) -> Self {
        UploadError::Io(e)
    }
}

/// An object's bytes as a blocking `Read`.
pub struct ObjectReader {
    bucket: Arc<Bucket>,
    rel: String,
    stream: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.bucket.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(self.bucket.error("read", &self.rel, e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

/// An object_store error as one line without credentials: for a server's refusal, its status
/// and error code (`404 Not Found (NoSuchBucket)`), else the whole chain of causes.
fn redact(e: &dyn std::error::Error) -> String {
    let text = chain(e);
    let status = text
        .split_once("status code: ")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest).trim().to_string());
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string());
    match (status, code) {
        (Some(status), Some(code)) => format!("the server answered {status} ({code})"),
        (Some(status), None) => format!("the server answered {status}"),
        _ => text,
    }
}

/// Every cause of `e` in one line, credentials removed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    crate::redact::urls(&text.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_its_status_and_code() {
        let e = io::Error::other(
            "Error performing GET http://127.0.0.1:1/b?list-type=2 in 5ms - Server returned \
             non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket\
             </Code></Error>",
        );
        assert_eq!(
            redact(&e),
            "the server answered 404 Not Found (NoSuchBucket)"
        );
        let e = io::Error::other("connect to https://user:pw@host/ failed");
        assert_eq!(redact(&e), "connect to https://***@host/ failed");
    }

    #[test]
    fn object_urls_are_told_from_folders_and_http() {
        assert!(is_object_url("s3://bucket/feed"));
        assert!(is_object_url("gs://bucket"));
        assert!(is_object_url("az://container/feed"));
        assert!(!is_object_url("https://example.org/feed"));
        assert!(!is_object_url("file:///srv/feed"));
        assert!(!is_object_url("/srv/feed"));
        assert!(!is_object_url("./s3:/x"));
    }
}

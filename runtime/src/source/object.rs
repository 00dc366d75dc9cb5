//! Fetching from object storage ([`crate::bucket`]), with the same deadlines and stop flag as
//! http(s): the transfer runs on a thread of its own while the caller watches both, so a stalled
//! server or a SIGTERM ends the fetch at once.

use std::io::Read;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FetchError, FetchOptions};
use crate::bucket::Bucket;

/// Streams the object `rel` into `consume`, all within `limit`.
pub(super) fn fetch<T: Send + 'static>(
    bucket: &Arc<Bucket>,
    rel: &str,
    limit: Duration,
    opts: &FetchOptions,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let deadline = Instant::now() + limit;
    let shown = bucket.describe(rel);
    let (tx, rx) = mpsc::channel();
    {
        let (bucket, rel, shown) = (Arc::clone(bucket), rel.to_string(), shown.clone());
        std::thread::spawn(move || {
            let result = bucket
                .reader(&rel)
                .map_err(|e| {
                    // The bucket's message names the object too; it is named once here.
                    let prefix = format!("cannot read {shown}: ");
                    let reason = e.to_string();
                    let reason = reason.strip_prefix(&prefix).unwrap_or(&reason).to_string();
                    FetchError::Io {
                        what: shown,
                        source: std::io::Error::new(e.kind(), reason),
                    }
                })
                .and_then(|mut reader| consume(&mut reader));
            let _ = tx.send(result);
        });
    }
    loop {
        if opts.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(FetchError::Interrupted { url: shown });
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(FetchError::Deadline { url: shown, limit });
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(50))) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(FetchError::Network {
                    url: shown,
                    reason: "the download stopped unexpectedly".into(),
                })
            }
        }
    }
}

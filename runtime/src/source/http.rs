//! Fetching over HTTP(S). Every file has a deadline (see [`FetchOptions`]) that covers the
//! whole fetch, retries included: server errors and network failures are retried with backoff
//! inside it; a 4xx is final (a listed file that is missing is an error, not "nothing new").
//! Only http(s) redirects are followed, at most [`MAX_REDIRECTS`]. The transfer runs on its own
//! thread while the caller watches the deadline and the stop flag, so a silent or dripping
//! server, or a SIGTERM, ends the fetch at once whatever the socket is doing.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::{FetchError, FetchOptions};
use crate::redact;

const ATTEMPTS: u32 = 5;
pub const MAX_REDIRECTS: usize = 5;

/// Fetches `url` and hands its body to `consume`, all within `limit`; gives up (with the
/// reason) when `opts.stop` is set.
pub(super) fn fetch<T: Send + 'static>(
    agent: &ureq::Agent,
    url: &str,
    limit: Duration,
    opts: &FetchOptions,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let started = Instant::now();
    let deadline = started + limit;
    let abandoned = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let (agent, url, abandoned) = (agent.clone(), url.to_string(), Arc::clone(&abandoned));
        std::thread::spawn(move || {
            let result = open(&agent, &url, deadline, &abandoned)
                .and_then(|mut reader| consume(&mut reader));
            let _ = tx.send(result);
        });
    }
    let shown = redact::urls(url);
    let give_up = |e: FetchError| {
        abandoned.store(true, Ordering::SeqCst);
        Err(e)
    };
    loop {
        if opts.stop.load(Ordering::SeqCst) {
            return give_up(FetchError::Interrupted { url: shown });
        }
        let now = Instant::now();
        if now >= deadline {
            return give_up(FetchError::Deadline { url: shown, limit });
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(50))) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return give_up(FetchError::Network {
                    url: shown,
                    reason: "the download stopped unexpectedly".into(),
                })
            }
        }
    }
}

/// The response body of `url`, after retries and http(s) redirects.
fn open(
    agent: &ureq::Agent,
    url: &str,
    deadline: Instant,
    abandoned: &AtomicBool,
) -> Result<Box<dyn Read + Send + Sync>, FetchError> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    let mut current = url.to_string();
    let mut redirects = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let shown = redact::urls(&current);
        let failure = match agent.get(&current).timeout(remaining).call() {
            Ok(response) if (300..400).contains(&response.status()) => {
                current = redirect_target(&current, &response, redirects)?;
                redirects += 1;
                continue;
            }
            Ok(response) => return Ok(response.into_reader()),
            Err(ureq::Error::Status(status, _)) if status < 500 || attempt == ATTEMPTS => {
                return Err(FetchError::Status { url: shown, status })
            }
            Err(ureq::Error::Status(status, _)) => format!("the server answered {status}"),
            Err(ureq::Error::Transport(t)) => {
                let reason = transport_reason(&t);
                if attempt == ATTEMPTS {
                    return Err(FetchError::Network { url: shown, reason });
                }
                reason
            }
        };
        if abandoned.load(Ordering::SeqCst) {
            return Err(FetchError::Network {
                url: shown,
                reason: failure,
            });
        }
        tracing::warn!("{shown}: {failure}; retrying in {delay:?}");
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(8));
        attempt += 1;
    }
}

/// Where a 3xx points, when it is an http(s) URL and the redirect budget allows it.
fn redirect_target(
    from: &str,
    response: &ureq::Response,
    redirects: usize,
) -> Result<String, FetchError> {
    let refuse = |reason: String| FetchError::Redirect {
        url: redact::urls(from),
        reason,
    };
    if redirects >= MAX_REDIRECTS {
        return Err(refuse(format!(
            "more than {MAX_REDIRECTS} redirects in a row"
        )));
    }
    let location = response
        .header("location")
        .ok_or_else(|| refuse(format!("a {} without a Location", response.status())))?;
    let target = url::Url::parse(from)
        .and_then(|base| base.join(location))
        .map_err(|e| {
            refuse(format!(
                "the Location `{}` is not a URL ({e})",
                redact::urls(location)
            ))
        })?;
    if target.scheme() != "http" && target.scheme() != "https" {
        return Err(refuse(format!(
            "it redirects to `{}`; only http and https redirects are followed",
            redact::urls(target.as_str())
        )));
    }
    Ok(target.to_string())
}

/// What went wrong, without the URL (the caller names it once).
fn transport_reason(t: &ureq::Transport) -> String {
    let mut reason = t.kind().to_string();
    if let Some(message) = t.message() {
        reason.push_str(&format!(": {message}"));
    } else if let Some(source) = std::error::Error::source(t) {
        reason.push_str(&format!(": {source}"));
    }
    redact::urls(&reason)
}

//! Fetching over HTTP(S): server errors and network failures are retried with backoff; a 4xx
//! is final (a listed file that is missing is an error, not "nothing new").

use std::io::Read;
use std::time::Duration;

use super::FetchError;

const ATTEMPTS: u32 = 5;

pub(super) fn open(agent: &ureq::Agent, url: &str) -> Result<Box<dyn Read + Send>, FetchError> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match agent.get(url).call() {
            Ok(response) => return Ok(Box::new(response.into_reader())),
            Err(ureq::Error::Status(status, _)) if status < 500 || attempt == ATTEMPTS => {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status,
                })
            }
            Err(ureq::Error::Transport(t)) if attempt == ATTEMPTS => {
                return Err(FetchError::Network {
                    url: url.to_string(),
                    reason: t.to_string(),
                })
            }
            Err(e) => {
                tracing::warn!("{url}: {e}; retrying in {delay:?}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
        }
    }
}

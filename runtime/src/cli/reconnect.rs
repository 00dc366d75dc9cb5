//! How the long-running commands (`dump --every`, `apply --follow`) survive a database restart
//! or a dropped connection: they say so once, then reconnect with backoff until it works or
//! they are asked to stop.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::sleep_unless_stopped;
use crate::error::{Error, Result};

const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(30);

/// After `lost` (a lost connection), calls `connect` with growing pauses until it succeeds;
/// `None` when a signal asked the process to stop first. A failure that is not about the
/// connection (the database was dropped, capture uninstalled) ends the wait with that error.
pub(super) fn reconnect<T>(
    stop: &AtomicBool,
    lost: &Error,
    mut connect: impl FnMut() -> Result<T>,
) -> Result<Option<T>> {
    tracing::warn!("lost the connection to the database ({lost}); reconnecting with backoff");
    let mut delay = FIRST_DELAY;
    loop {
        if sleep_unless_stopped(stop, delay) {
            return Ok(None);
        }
        match connect() {
            Ok(connected) => {
                tracing::warn!("reconnected to the database");
                return Ok(Some(connected));
            }
            // A session that died with the server may hold its lock a moment longer.
            Err(e) if e.is_connection_lost() || matches!(e, Error::Busy(_)) => {
                tracing::debug!("still cannot reconnect: {e}");
                delay = (delay * 2).min(MAX_DELAY);
            }
            Err(e) => return Err(e),
        }
    }
}

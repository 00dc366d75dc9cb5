//! The commands' report on stdout. A reader that goes away (`mirror apply | head`) must not
//! stop the work: `println!` would panic on the broken pipe, possibly mid-apply. The report
//! then stops, one warning says so, and the command carries on to its end (so too when stdout
//! is a full disk). Only `status` and `compare`, whose report is their result, then fail.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line of the report, unless stdout has already been found closed.
pub fn line(args: std::fmt::Arguments) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        CLOSED.store(true, Ordering::Relaxed);
        tracing::warn!("cannot write to stdout ({e}); carrying on without printing");
    }
}

/// Whether a line of the report could not be written.
pub fn failed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` for the commands' report: see [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

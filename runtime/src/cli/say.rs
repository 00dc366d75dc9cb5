//! The commands' report on stdout. A reader that goes away (`mirror apply | head`) must not
//! stop the work: `println!` would panic on the broken pipe, possibly mid-apply. The report
//! then stops, one warning says so, and the command carries on to its end (so too when stdout
//! is a full disk). Only `status` and `compare`, whose report is their result, then fail.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line of the report, unless stdout has already been found closed.
pub fn line(args: std::fmt::Arguments) {
    if failed() {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        CLOSED.store(true, Ordering::Relaxed);
        tracing::warn!("cannot write to stdout ({e}); carrying on without printing");
    }
}

/// Whether a line of the report could not be written. (A command started without a stdout,
/// `>&-`, has /dev/null there: Rust's runtime opens it, as for `>/dev/null`.)
pub fn failed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Writes one line on stderr, outside the log (an error, a warning before the log exists); a
/// closed or full stderr loses it instead of panicking, as `eprintln!` would.
pub fn to_stderr(args: std::fmt::Arguments) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` for the commands' report: see [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

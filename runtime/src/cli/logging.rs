//! The log on stderr: `-v`/`-q`, `--log-format text|json`, and `RUST_LOG` for anything finer.
//!
//! Results go to stdout (one line per one-shot command); the log is for what a supervisor or a
//! person watching wants to read: one line per cut and per applied batch of the long-running
//! commands, warnings and errors with what and where, debug detail with `-v`.

use std::io::IsTerminal;

use clap::ArgAction;

/// The log's flags, global to every command.
#[derive(clap::Args, Debug)]
pub(super) struct LogArgs {
    /// More detail in the log on stderr: -v adds debug lines and the PostgreSQL server's
    /// NOTICEs, -vv traces. RUST_LOG (e.g. `replgen_runtime=debug`), when set, decides instead.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "quiet")]
    verbose: u8,
    /// Log only errors on stderr (results still go to stdout).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// How log lines look: text (coloured only when stderr is a terminal) or json (one object
    /// per line, with `timestamp`, `level`, `target`, `message` and the event's fields).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LogFormat {
    Text,
    Json,
}

impl LogArgs {
    pub(super) fn quiet(&self) -> bool {
        self.quiet
    }

    pub(super) fn json(&self) -> bool {
        self.log_format == LogFormat::Json
    }

    /// The filter when RUST_LOG is not set: replgen's own lines at info, dependencies' only
    /// from warn (the server's NOTICEs are debug lines of `replgen_runtime::db`).
    fn default_filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn,replgen_runtime=info",
            (false, 1) => "info,replgen_runtime=debug",
            (false, _) => "debug,replgen_runtime=trace",
        }
    }
}

/// Installs the log subscriber (once per process; later calls do nothing).
pub(super) fn init(args: &LogArgs) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&spec)
            .unwrap_or_else(|e| {
                super::say::to_stderr(format_args!(
                    "warning: RUST_LOG={spec:?} is not a valid filter ({e}); using the default"
                ));
                args.default_filter().into()
            }),
        _ => args.default_filter().into(),
    };
    // A closed or full stderr loses log lines; reporting that on stderr would panic.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_env_filter(filter);
    let _ = if args.json() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

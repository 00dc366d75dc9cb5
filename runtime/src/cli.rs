//! The mirror binary's command line: `install`, `uninstall`, `dump`, `export`, `import`,
//! `apply`, `status`. A user's `main` is one call: `replgen_runtime::cli::main(&SCHEMA)`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::db;
use crate::def::SchemaDef;
use crate::dump::{DumpOptions, Master};
use crate::error::{Context, Error, Result};
use crate::replica::Replica;
use crate::source::Source;
use crate::timefmt;

#[derive(Parser, Debug)]
#[command(
    about = "Publishes a PostgreSQL database's changes as replication packets, and applies them on mirrors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct DbArg {
    /// The database: a libpq connection string or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Installs change capture on the master (the generated install migration).
    Install(DbArg),
    /// Removes change capture and replgen's state from the database.
    Uninstall(DbArg),
    /// Cuts a packet of every committed change not yet dumped and publishes it under DIR.
    Dump {
        #[command(flatten)]
        db: DbArg,
        /// The feed's root folder (packets, exports, index.xml).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Repeat every DURATION (e.g. 1h, 5m, 10s) until SIGINT or SIGTERM.
        #[arg(long, value_parser = parse_duration)]
        every: Option<Duration>,
        /// How many packets index.xml lists.
        #[arg(long, default_value_t = 1000)]
        keep: usize,
        /// Also delete packet files that fall out of the index.
        #[arg(long)]
        delete_pruned: bool,
        /// Publish a packet even when nothing changed.
        #[arg(long)]
        empty_packets: bool,
        /// gzip level, 0 (none) to 9 (smallest).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=9))]
        compression: u32,
        /// Leave the change logs to autovacuum instead of vacuuming them after each cut.
        #[arg(long)]
        no_vacuum: bool,
    },
    /// Writes a full copy of the replicated tables aligned with the packet sequence.
    Export {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 1000)]
        keep: usize,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=9))]
        compression: u32,
    },
    /// Loads the feed's latest export into an empty replica and sets its position.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// The feed: a folder, file:// URL or http(s):// URL.
        #[arg(long)]
        from: String,
        /// Replace the rows of a replica that is not empty.
        #[arg(long)]
        replace: bool,
    },
    /// Applies every packet after the replica's position, in order.
    Apply {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        from: String,
        /// Keep polling for new packets until SIGINT or SIGTERM.
        #[arg(long)]
        follow: bool,
        /// How often --follow polls.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Compares every replicated table of two databases (a master and a replica, say).
    Compare {
        #[command(flatten)]
        db: DbArg,
        /// The other database.
        #[arg(long)]
        replica: String,
    },
    /// Prints the replica's position and, with --from, how far behind the feed it is.
    Status {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line; the whole `main` of a mirror binary.
pub fn main(schema: &'static SchemaDef) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    match run(cli, schema) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

/// Sleeps up to `total`, returning early (true) when asked to stop.
fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) -> bool {
    let until = Instant::now() + total;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::SeqCst)
}

fn run(cli: Cli, schema: &'static SchemaDef) -> Result<()> {
    match cli.command {
        Command::Install(DbArg { db }) => {
            let mut client = db::connect(&db)?;
            client
                .batch_execute(schema.install_sql)
                .context(|| "the install migration failed".into())?;
            println!(
                "installed change capture for {} tables (schema_version {})",
                schema.tables.len(),
                schema.version
            );
            Ok(())
        }
        Command::Uninstall(DbArg { db }) => {
            let mut client = db::connect(&db)?;
            client
                .batch_execute(schema.uninstall_sql)
                .context(|| "the uninstall migration failed".into())?;
            println!("removed change capture");
            Ok(())
        }
        Command::Dump {
            db,
            out,
            every,
            keep,
            delete_pruned,
            empty_packets,
            compression,
            no_vacuum,
        } => {
            let opts = DumpOptions {
                out,
                keep,
                delete_pruned,
                empty_packets,
                compression,
                vacuum: !no_vacuum,
            };
            let stop = stop_flag();
            let mut master = Master::connect(&db.db, schema, opts, true)?;
            loop {
                match master.cut()? {
                    Some(cut) => println!(
                        "packet {}: {} rows, {} bytes, {:.2} s, {}",
                        cut.serial, cut.rows, cut.bytes, cut.seconds, cut.path
                    ),
                    None => tracing::info!("no changes since the last packet"),
                }
                let Some(every) = every else { return Ok(()) };
                if sleep_unless_stopped(&stop, every) {
                    return Ok(());
                }
            }
        }
        Command::Export {
            db,
            out,
            keep,
            compression,
        } => {
            let opts = DumpOptions {
                out,
                keep,
                delete_pruned: false,
                empty_packets: false,
                compression,
                vacuum: true,
            };
            let mut master = Master::connect(&db.db, schema, opts, false)?;
            let export = master.export()?;
            if let Some(serial) = export.cut {
                println!("packet {serial}: cut together with the export");
            }
            if export.reused {
                println!(
                    "export {} is still current (nothing changed since): {}",
                    export.serial, export.path
                );
                return Ok(());
            }
            println!(
                "export {}: {} tables, {} rows, {} bytes, {:.2} s, {}",
                export.serial,
                export.tables,
                export.rows,
                export.bytes,
                export.seconds,
                export.path
            );
            Ok(())
        }
        Command::Import { db, from, replace } => {
            let source = Source::parse(&from);
            let mut replica = Replica::connect(&db.db, schema)?;
            let started = Instant::now();
            // A bar over the tables when a person watches; the summary line either way.
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new(schema.tables.len() as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tables, {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let (serial, rows) = replica.import(&source, replace, |table, rows| {
                if let Some(bar) = &bar {
                    bar.inc(1);
                    bar.set_message(format!("{table}: {rows} rows"));
                }
            })?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            println!(
                "imported export {serial}: {rows} rows in {:.2} s; `apply` continues with packet {}",
                started.elapsed().as_secs_f64(),
                serial + 1
            );
            Ok(())
        }
        Command::Apply {
            db,
            from,
            follow,
            interval,
        } => {
            let source = Source::parse(&from);
            let stop = stop_flag();
            let mut replica = Replica::connect(&db.db, schema)?;
            replica.stop = Arc::clone(&stop);
            loop {
                let bar = ProgressBar::default();
                let result = replica.apply(&source, |done, total, entry| {
                    bar.tick(done, total, entry.serial, entry.rows)
                });
                bar.finish();
                let summary = match result {
                    Ok(summary) => summary,
                    // Following, a failure (a network blip, a packet not yet fixed) is reported
                    // and retried at the next poll; the replica stays at its last good packet.
                    Err(e) if follow => {
                        eprintln!("error: {e}");
                        if sleep_unless_stopped(&stop, interval) {
                            return Ok(());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if summary.packets > 0 {
                    println!(
                        "applied packets {}..={} ({} packets, {} rows) in {:.2} s",
                        summary.from + 1,
                        summary.to,
                        summary.packets,
                        summary.rows,
                        summary.seconds
                    );
                } else if !follow {
                    println!("up to date at packet {}", summary.to);
                }
                if !follow || sleep_unless_stopped(&stop, interval) {
                    return Ok(());
                }
            }
        }
        Command::Status { db, from, json } => status(&db.db, from.as_deref(), json),
        Command::Compare { db, replica } => {
            let report = crate::compare::compare(&db.db, &replica, schema)?;
            for d in &report.differences {
                println!(
                    "table {} differs: {} rows on the first database, {} on the second",
                    d.table, d.first_rows, d.second_rows
                );
            }
            if report.differences.is_empty() {
                println!(
                    "replica identical: {} tables, {} rows",
                    report.tables, report.rows
                );
                Ok(())
            } else {
                Err(Error::Refused(format!(
                    "{} of {} tables differ",
                    report.differences.len(),
                    report.tables
                )))
            }
        }
    }
}

fn status(db: &str, from: Option<&str>, json: bool) -> Result<()> {
    let position = Replica::position_of(db)?;
    let index = match from {
        Some(from) => Some(Source::parse(from).index()?),
        None => None,
    };
    let newest = index.as_ref().and_then(|i| i.packets.last().cloned());
    let serial = position.as_ref().map(|p| p.serial);
    let behind = newest
        .as_ref()
        .map(|n| n.serial.saturating_sub(serial.unwrap_or(0)));
    let seconds_behind = match (&position, &newest) {
        (Some(p), Some(n)) => match (
            timefmt::parse_epoch(&n.timestamp),
            timefmt::parse_epoch(&p.packet_created),
        ) {
            (Some(a), Some(b)) => Some((a - b).max(0.0)),
            _ => None,
        },
        _ => None,
    };
    if json {
        let field = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        println!(
            "{{\"serial\":{},\"schema_version\":{},\"packet_created\":{},\"applied_at\":{},\"newest_serial\":{},\"newest_created\":{},\"packets_behind\":{},\"seconds_behind\":{}}}",
            field(serial.map(|s| s.to_string())),
            field(position.as_ref().map(|p| p.schema_version.to_string())),
            field(position.as_ref().map(|p| quoted(&p.packet_created))),
            field(position.as_ref().map(|p| quoted(&p.applied_at))),
            field(newest.as_ref().map(|n| n.serial.to_string())),
            field(newest.as_ref().map(|n| quoted(&n.timestamp))),
            field(behind.map(|b| b.to_string())),
            field(seconds_behind.map(|s| format!("{s:.3}"))),
        );
        return Ok(());
    }
    match &position {
        Some(p) => println!(
            "replica at packet {} (schema_version {}), packet created {}, applied {}",
            p.serial, p.schema_version, p.packet_created, p.applied_at
        ),
        None => println!("replica has no position yet (import an export, or apply from packet 1)"),
    }
    if let Some(index) = &index {
        match &newest {
            Some(n) => println!(
                "feed: newest packet {} created {}; {} packets behind{}",
                n.serial,
                n.timestamp,
                behind.unwrap_or(0),
                seconds_behind
                    .map(|s| format!(", {s:.1} s behind"))
                    .unwrap_or_default()
            ),
            None => println!("feed: no packets listed"),
        }
        if let Some(export) = &index.export {
            println!(
                "feed: latest export {} created {}",
                export.serial, export.timestamp
            );
        }
    }
    Ok(())
}

/// A progress bar on stderr when it is a terminal and more than a few packets are pending.
#[derive(Default)]
struct ProgressBar {
    bar: std::cell::RefCell<Option<indicatif::ProgressBar>>,
}

impl ProgressBar {
    fn tick(&self, done: u64, total: u64, serial: u64, rows: u64) {
        if total <= 3 || !std::io::stderr().is_terminal() {
            return;
        }
        let mut bar = self.bar.borrow_mut();
        let bar = bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} packets, {msg} ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(done);
        bar.set_message(format!("packet {serial} ({rows} rows)"));
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}

/// `1h`, `30m`, `10s`, `200ms`, or combinations like `1h30m`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let err = || format!("`{text}` is not a duration (examples: 1h, 5m, 10s, 200ms)");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86400),
            _ => return Err(err()),
        };
    }
    if total.is_zero() {
        return Err(err());
    }
    Ok(total)
}

impl From<clap::Error> for Error {
    fn from(e: clap::Error) -> Self {
        Error::Usage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}

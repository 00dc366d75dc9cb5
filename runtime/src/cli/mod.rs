//! The mirror binary's command line: `install`, `uninstall`, `dump`, `export`, `init`, `import`,
//! `apply`, `status`. A user's `main` is one call: `replgen_runtime::cli::main(&SCHEMA)`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod duration;
#[cfg(test)]
mod help_tests;
mod logging;
mod metrics;
mod progress;
mod reconnect;
mod say;
mod status;

use duration::parse_duration;
use progress::ProgressBar;
use reconnect::reconnect;
use say::say;

use crate::db;
use crate::def::SchemaDef;
use crate::error::{Context, Error, Result};
use crate::master::{DumpOptions, Master};
use crate::replica::Replica;
use crate::source::{FetchOptions, Source};

#[derive(Parser, Debug)]
#[command(
    about = "Publishes a PostgreSQL database's changes as replication packets, and applies them on mirrors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: logging::LogArgs,
}

#[derive(clap::Args, Debug)]
struct DbArg {
    /// The database: a libpq connection string or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db: String,
}

/// How long downloads may take (http(s) feeds).
#[derive(clap::Args, Debug)]
struct FetchArgs {
    /// Every download's deadline starts at this (the index gets exactly this).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    fetch_timeout: Duration,
    /// Plus its listed size at this rate, in bytes per second (suffixes K, M, KiB, MiB).
    #[arg(long, default_value = "64KiB", value_parser = parse_rate)]
    min_rate: u64,
    /// Trust only an index.xml signed by this minisign public key (repeatable: any one of
    /// them); refuse an unsigned one.
    #[arg(long, value_name = "FILE")]
    trust_key: Vec<std::path::PathBuf>,
    /// Refuse an index published longer ago than DURATION (e.g. 2h): a frozen or replayed feed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_age: Option<Duration>,
}

impl FetchArgs {
    fn options(&self, stop: &Arc<AtomicBool>) -> Result<FetchOptions> {
        let keys = self
            .trust_key
            .iter()
            .map(|path| crate::signing::load_public(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(FetchOptions {
            floor: self.fetch_timeout,
            min_rate: self.min_rate,
            stop: Arc::clone(stop),
            trust: crate::source::Trust {
                keys,
                max_age: self.max_age,
            },
        })
    }
}

/// Reads every `--sign-key` (unencrypted minisign secret keys).
fn sign_keys(paths: &[std::path::PathBuf]) -> Result<Arc<Vec<crate::signing::SigningKey>>> {
    paths
        .iter()
        .map(|path| crate::signing::load_secret(path))
        .collect::<Result<Vec<_>>>()
        .map(Arc::new)
}

/// `65536`, `64K`, `64KiB`, `1M`, `1MiB` (bytes per second; K and M are 1024-based).
fn parse_rate(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    let unit: u64 = match &t[digits..] {
        "" | "B" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        _ => {
            return Err(format!(
                "`{text}` is not a rate (examples: 65536, 64KiB, 1MiB)"
            ))
        }
    };
    match t[..digits]
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
    {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a positive rate (examples: 65536, 64KiB, 1MiB)"
        )),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Installs change capture on the master (the generated install migration).
    Install {
        #[command(flatten)]
        db: DbArg,
        /// On a replica: make it a cascading mirror, which publishes a feed of what it applies
        /// (`apply --cascade`). Without it, install refuses a database that follows a feed.
        #[arg(long)]
        cascade: bool,
    },
    /// Removes change capture and replgen's state from the database.
    Uninstall {
        #[command(flatten)]
        db: DbArg,
        /// Also on a database that is a replica too (a cascading mirror): its position goes
        /// with replgen's state, and it can then only start again from an export.
        #[arg(long)]
        forget_position: bool,
        /// Also when the change logs hold changes no packet has published yet (they go with
        /// the logs, and the feed's replicas never get them). Without it, uninstall refuses.
        #[arg(long)]
        drop_uncut_changes: bool,
    },
    /// Writes a new minisign key pair for signing the feed (unencrypted, like `minisign -G -W`;
    /// the secret key file is private, 0600). Never overwrites a file.
    Keygen {
        /// Where the secret key goes (for `dump --sign-key`).
        #[arg(long, value_name = "FILE")]
        secret_key: std::path::PathBuf,
        /// Where the public key goes (for `apply --trust-key`, and `minisign -V -p`).
        #[arg(long, value_name = "FILE")]
        public_key: std::path::PathBuf,
    },
    /// Cuts a packet of every committed change not yet dumped and publishes it under DIR.
    Dump {
        #[command(flatten)]
        db: DbArg,
        /// The feed's root (packets, exports, index.xml): a folder, or s3://bucket/prefix (gs://, az://).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Repeat every DURATION (e.g. 1h, 5m, 10s) until SIGINT or SIGTERM.
        #[arg(long, value_parser = parse_duration)]
        every: Option<Duration>,
        /// How many packets index.xml lists (it also lists every packet after the newest export).
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
        /// Publish every row of TABLE in this cut, as a table reload (replicas replace the
        /// table's rows with them): the way out after its capture was missing or disabled.
        /// Repeatable; not with --every.
        #[arg(long, value_name = "TABLE", conflicts_with = "every")]
        resync: Vec<String>,
        /// Sign index.xml with this minisign secret key (repeatable: during a key rotation, old
        /// and new keys sign side by side), as index.xml.minisig.
        #[arg(long, value_name = "FILE")]
        sign_key: Vec<std::path::PathBuf>,
        /// Stop signing a signed feed (removes index.xml.minisig; replicas that check the
        /// signature then refuse the feed). Without --sign-key, a signed feed is otherwise refused.
        #[arg(long, conflicts_with = "sign_key")]
        unsigned: bool,
        /// With --every: serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9187).
        #[arg(long, value_name = "ADDR", requires = "every")]
        metrics: Option<String>,
    },
    /// Writes a full copy of the replicated tables aligned with the packet sequence.
    Export {
        #[command(flatten)]
        db: DbArg,
        /// The feed's root (packets, exports, index.xml): a folder, or s3://bucket/prefix (gs://, az://).
        #[arg(long)]
        out: std::path::PathBuf,
        /// How many packets index.xml lists.
        #[arg(long, default_value_t = 1000)]
        keep: usize,
        /// gzip level, 0 (none) to 9 (smallest).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=9))]
        compression: u32,
        /// Start a new feed in --out (a new identity, this export, packets after it): the way
        /// forward when the folder is lost, restored from an old backup, holds another feed, or
        /// the database is behind it. Replicas of the old feed then `import --replace`.
        #[arg(long)]
        new_feed: bool,
        /// Sign index.xml with this minisign secret key (repeatable: during a key rotation, old
        /// and new keys sign side by side), as index.xml.minisig.
        #[arg(long, value_name = "FILE")]
        sign_key: Vec<std::path::PathBuf>,
        /// Stop signing a signed feed (removes index.xml.minisig; replicas that check the
        /// signature then refuse the feed). Without --sign-key, a signed feed is otherwise refused.
        #[arg(long, conflicts_with = "sign_key")]
        unsigned: bool,
    },
    /// Creates the replicated tables (and their schemas) on a new mirror's empty database.
    Init {
        #[command(flatten)]
        db: DbArg,
        /// Create the tables of this earlier schema_version (one this binary knows) instead of
        /// its own: for a feed whose latest export is older, which `import` loads into tables of
        /// its own version; the packets after it upgrade them.
        #[arg(long, value_name = "N")]
        schema_version: Option<u32>,
    },
    /// Loads the feed's latest export into an empty replica and sets its position.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// The feed: a folder, file:// URL, http(s):// URL or s3:// (gs://, az://) URL.
        #[arg(long)]
        from: String,
        /// Replace the rows of a replica that is not empty.
        #[arg(long)]
        replace: bool,
        /// The database publishes a feed of its own (a cascading mirror): load it anyway, and
        /// let its capture publish what is loaded.
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        fetch: FetchArgs,
    },
    /// Applies every packet after the replica's position, in order.
    Apply {
        #[command(flatten)]
        db: DbArg,
        /// The feed: a folder, file:// URL, http(s):// URL or s3:// (gs://, az://) URL.
        #[arg(long)]
        from: String,
        /// Keep polling for new packets until SIGINT or SIGTERM.
        #[arg(long)]
        follow: bool,
        /// How often --follow polls.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        interval: Duration,
        /// The database publishes a feed of its own (a cascading mirror): apply anyway, and let
        /// its capture publish what is applied.
        #[arg(long)]
        cascade: bool,
        /// At a schema change, keep the tables the new layout no longer replicates (they are
        /// dropped otherwise; never with CASCADE).
        #[arg(long)]
        keep_dropped: bool,
        /// A folder of this mirror's own SQL per version: `DIR/v<N>.sql` (indexes, views,
        /// functions kept beside the data) runs in the transaction that upgrades the tables to
        /// schema_version N.
        #[arg(long, value_name = "DIR")]
        replica_sql: Option<std::path::PathBuf>,
        /// With --follow: serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9188).
        #[arg(long, value_name = "ADDR", requires = "follow")]
        metrics: Option<String>,
        #[command(flatten)]
        fetch: FetchArgs,
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
        /// The feed (a folder, file:// URL or http(s):// URL), to say how far behind it the
        /// replica is.
        #[arg(long)]
        from: Option<String>,
        /// Print one JSON object instead of sentences.
        #[arg(long)]
        json: bool,
        /// Exit 1 (saying so in one line) when the replica is further behind than this: behind
        /// the newest packet with --from, else behind now (for cron or a Nagios check).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_lag: Option<Duration>,
        #[command(flatten)]
        fetch: FetchArgs,
    },
}

/// Runs the command line; the whole `main` of a mirror binary.
pub fn main(schema: &'static SchemaDef) -> ExitCode {
    let cli = match command(schema)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    logging::init(&cli.log);
    let json = cli.log.json();
    // Their report is what these commands are for: one that could not be written fails them.
    let reports = matches!(
        cli.command,
        Command::Status { .. } | Command::Compare { .. }
    );
    match run(cli, schema) {
        Ok(()) if reports && say::failed() => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = crate::redact::conninfo(&e.to_string());
            if json {
                tracing::error!(kind = metrics::error_kind(&e), "{message}");
            } else {
                say::to_stderr(format_args!("error: {message}"));
            }
            ExitCode::FAILURE
        }
    }
}

/// The command line as the binary is named (a user's mirror is not called `mirror`), with a
/// `--version` that says which runtime and schema_version it was built with.
fn command(schema: &'static SchemaDef) -> clap::Command {
    let bin = std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "mirror".into());
    let version = format!(
        "{} (replgen-runtime, schema_version {})",
        env!("CARGO_PKG_VERSION"),
        schema.version
    );
    Cli::command()
        .name(&*Box::leak(bin.into_boxed_str()))
        .version(&*Box::leak(version.into_boxed_str()))
}

/// Seconds rounded to the millisecond, for the log.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// After a successful poll of `apply --follow`: where the replica is and how far behind.
fn record_position(
    metrics: &metrics::Metrics,
    replica: &mut Replica,
    summary: &crate::replica::ApplySummary,
) {
    metrics.add(
        "replgen_apply_runs_total",
        &[(
            "result",
            if summary.packets > 0 {
                "applied"
            } else {
                "no_changes"
            },
        )],
        1.0,
    );
    metrics.set("replgen_apply_position_serial", summary.to as f64);
    metrics.set(
        "replgen_apply_last_success_timestamp_seconds",
        metrics::now_epoch(),
    );
    let newest = summary.newest.unwrap_or(summary.to);
    metrics.set("replgen_apply_newest_serial", newest as f64);
    metrics.set(
        "replgen_apply_packets_behind",
        newest.saturating_sub(summary.to) as f64,
    );
    let created = match replica.position() {
        Ok(position) => position.and_then(|p| crate::timefmt::parse_epoch(&p.packet_created)),
        Err(e) => {
            tracing::warn!("cannot read the replica's position for the metrics: {e}");
            None
        }
    };
    if let Some(created) = created {
        metrics.set("replgen_apply_position_created_timestamp_seconds", created);
    }
    let lag = match (
        summary
            .newest_created
            .as_deref()
            .and_then(crate::timefmt::parse_epoch),
        created,
    ) {
        _ if newest <= summary.to => Some(0.0),
        (Some(newest), Some(created)) => Some((newest - created).max(0.0)),
        _ => None,
    };
    if let Some(lag) = lag {
        metrics.set("replgen_apply_lag_seconds", lag);
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

/// How many times `install` runs its migration when PostgreSQL breaks a deadlock with it.
const INSTALL_ATTEMPTS: u32 = 5;

fn run(cli: Cli, schema: &'static SchemaDef) -> Result<()> {
    let show_progress = progress::wanted(cli.log.quiet());
    match cli.command {
        Command::Install {
            db: DbArg { db },
            cascade,
        } => {
            let mut client = db::connect(&db)?;
            if !cascade {
                if let Some(p) = crate::replica::Replica::position_of(&db)? {
                    return Err(Error::InstallOnReplica { serial: p.serial });
                }
            }
            crate::master::capture::check_not_newer(&mut client, schema)?;
            crate::master::live_tables::check_master(&mut client, schema)?;
            // One transaction, locking table after table: against application transactions
            // that write several of them it may deadlock, and is then rolled back whole.
            let mut attempt = 1;
            loop {
                match client.batch_execute(schema.install_sql) {
                    Err(e)
                        if attempt < INSTALL_ATTEMPTS
                            && e.code()
                                == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
                    {
                        tracing::warn!(attempt, "the install migration deadlocked with the application's writes; running it again");
                        // The migration's own BEGIN left the session in the failed transaction.
                        client
                            .batch_execute("ROLLBACK")
                            .context(|| "cannot roll back the failed install".into())?;
                        std::thread::sleep(std::time::Duration::from_millis(200 * attempt as u64));
                        attempt += 1;
                    }
                    other => {
                        other.context(|| "the install migration failed".into())?;
                        break;
                    }
                }
            }
            say!(
                "installed change capture for {} tables (schema_version {})",
                schema.tables.len(),
                schema.version
            );
            Ok(())
        }
        Command::Keygen {
            secret_key,
            public_key,
        } => {
            let id = crate::signing::keygen(&secret_key, &public_key)?;
            say!(
                "key {id}: secret key {} (keep it private), public key {}",
                secret_key.display(),
                public_key.display()
            );
            Ok(())
        }
        Command::Init {
            db: DbArg { db },
            schema_version,
        } => {
            let schema = match schema_version {
                None => schema,
                Some(v) => schema.layout(v).ok_or_else(|| Error::SchemaVersion {
                    what: "--schema-version".into(),
                    version: v,
                    known: schema.known_versions(),
                })?,
            };
            let mut client = db::connect(&db)?;
            let summary = crate::replica::init(&mut client, schema)?;
            let schemas = if summary.schemas.is_empty() {
                String::new()
            } else {
                format!(" and schemas {}", summary.schemas.join(", "))
            };
            let enums = match summary.enums {
                0 => String::new(),
                n => format!(", {n} enum type{}", if n == 1 { "" } else { "s" }),
            };
            say!(
                "created {} tables{schemas}{enums} (schema_version {}); next, `import` the feed's export",
                summary.tables, schema.version
            );
            Ok(())
        }
        Command::Uninstall {
            db: DbArg { db },
            forget_position,
            drop_uncut_changes,
        } => {
            if !forget_position {
                if let Some(p) = crate::replica::Replica::position_of(&db)? {
                    return Err(Error::UninstallReplica { serial: p.serial });
                }
            }
            let mut client = db::connect(&db)?;
            match crate::master::uninstall(&mut client, schema, drop_uncut_changes)? {
                true => say!("removed change capture"),
                false => say!("no change capture was installed; removed what was left of replgen's state, if any"),
            }
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
            resync,
            sign_key,
            unsigned,
            metrics: metrics_addr,
        } => {
            let sign_keys = sign_keys(&sign_key)?;
            let signed = !sign_keys.is_empty();
            let opts = DumpOptions {
                sign_keys,
                out,
                keep,
                delete_pruned,
                empty_packets,
                compression,
                vacuum: !no_vacuum,
                new_feed: false,
                resync,
                unsigned,
            };
            let stop = stop_flag();
            let metrics = metrics::for_dump();
            if let Some(addr) = &metrics_addr {
                metrics::serve(addr, Arc::clone(&metrics))?;
            }
            let connect = || Master::connect(&db.db, schema, opts.clone(), true);
            let mut master = connect()?;
            loop {
                let started = Instant::now();
                let result = master.cut();
                if let Err(e) = &result {
                    let kind = metrics::error_kind(e);
                    metrics.add("replgen_dump_errors_total", &[("kind", &kind)], 1.0);
                }
                let cut = match result {
                    Ok(cut) => cut,
                    Err(e) if every.is_some() && e.is_connection_lost() => {
                        match reconnect(&stop, &e, connect)? {
                            Some(reconnected) => master = reconnected,
                            None => return Ok(()),
                        }
                        continue;
                    }
                    // Repeating, a refusal the operator's next step ends (an application's
                    // migration ran before its capture's `install`, a disabled trigger) is
                    // reported and tried again at the next interval; pending changes are kept.
                    Err(e) if every.is_some() && e.awaits_the_operator() => {
                        tracing::error!(
                            kind = metrics::error_kind(&e),
                            "{}; trying again every {}s",
                            crate::redact::conninfo(&e.to_string()),
                            every.unwrap_or_default().as_secs_f64()
                        );
                        if sleep_unless_stopped(&stop, every.unwrap_or_default()) {
                            return Ok(());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                metrics.observe(
                    "replgen_dump_cut_duration_seconds",
                    started.elapsed().as_secs_f64(),
                );
                metrics.set(
                    "replgen_dump_last_cut_timestamp_seconds",
                    metrics::now_epoch(),
                );
                match cut {
                    Some(cut) => {
                        metrics.add("replgen_dump_cuts_total", &[("result", "packet")], 1.0);
                        metrics.add("replgen_dump_rows_published_total", &[], cut.rows as f64);
                        metrics.add("replgen_dump_bytes_published_total", &[], cut.bytes as f64);
                        metrics.set("replgen_dump_position_serial", cut.serial as f64);
                        // One-shot, the result is stdout's; repeating, it is the log's.
                        if every.is_some() {
                            tracing::info!(
                                serial = cut.serial,
                                rows = cut.rows,
                                bytes = cut.bytes,
                                seconds = millis(cut.seconds),
                                path = %cut.path,
                                "published a packet"
                            );
                        } else {
                            say!(
                                "packet {}: {} rows, {} bytes, {:.2} s, {}",
                                cut.serial,
                                cut.rows,
                                cut.bytes,
                                cut.seconds,
                                cut.path
                            );
                        }
                    }
                    None => {
                        metrics.add("replgen_dump_cuts_total", &[("result", "no_changes")], 1.0);
                        match master.last_serial() {
                            Ok(serial) => {
                                metrics.set("replgen_dump_position_serial", serial as f64);
                                tracing::info!(serial, "no changes since the last packet");
                            }
                            Err(_) => tracing::info!("no changes since the last packet"),
                        }
                        // A signed index is re-signed at every run, so that replicas checking
                        // --max-age see a live feed even when nothing changes.
                        if signed {
                            master.write_index()?;
                        }
                    }
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
            new_feed,
            sign_key,
            unsigned,
        } => {
            let opts = DumpOptions {
                sign_keys: sign_keys(&sign_key)?,
                out,
                keep,
                delete_pruned: false,
                empty_packets: false,
                compression,
                vacuum: true,
                new_feed,
                resync: Vec::new(),
                unsigned,
            };
            let mut master = Master::connect(&db.db, schema, opts, false)?;
            let bar = ProgressBar::start(&master.tally, show_progress);
            let export = master.export();
            bar.finish();
            let export = export?;
            if let Some(serial) = export.cut {
                say!("packet {serial}: cut together with the export");
            }
            if export.reused {
                say!(
                    "export {} is still current (nothing changed since): {}",
                    export.serial,
                    export.path
                );
                return Ok(());
            }
            say!(
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
        Command::Import {
            db,
            from,
            replace,
            cascade,
            fetch,
        } => {
            let stop = stop_flag();
            let source = Source::parse(&from, fetch.options(&stop)?);
            let mut replica = Replica::connect(&db.db, schema, cascade)?;
            say!("{}", replica.mode().describe());
            replica.stop = Arc::clone(&stop);
            let started = Instant::now();
            // A rows bar when a person watches; the summary line either way.
            let bar = ProgressBar::start(&replica.tally, show_progress);
            let mut tables = 0;
            let imported = replica.import(&source, replace, |table, rows| {
                tables += 1;
                bar.message(format!(
                    "{tables}/{} tables, {table}: {rows} rows",
                    schema.tables.len()
                ));
            });
            bar.finish();
            let (serial, rows) = imported?;
            say!(
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
            cascade,
            keep_dropped,
            replica_sql,
            metrics: metrics_addr,
            fetch,
        } => {
            if let Some(dir) = &replica_sql {
                crate::replica::upgrade::check_replica_sql(dir, schema)?;
            }
            let stop = stop_flag();
            let metrics = metrics::for_apply();
            if let Some(addr) = &metrics_addr {
                metrics::serve(addr, Arc::clone(&metrics))?;
            }
            let source = Source::parse(&from, fetch.options(&stop)?);
            let connect = || {
                Replica::connect(&db.db, schema, cascade).map(|mut replica| {
                    replica.stop = Arc::clone(&stop);
                    replica.keep_dropped = keep_dropped;
                    replica.replica_sql = replica_sql.clone();
                    replica
                })
            };
            let mut replica = connect()?;
            say!("{}", replica.mode().describe());
            // Following, the same failure is reported once, not at every poll.
            let mut last_error = String::new();
            loop {
                let bar = ProgressBar::start(&replica.tally, show_progress);
                let started = Instant::now();
                let mut packet_started = Instant::now();
                let result = replica.apply(&source, |done, total, entry| {
                    metrics.observe(
                        "replgen_apply_packet_duration_seconds",
                        packet_started.elapsed().as_secs_f64(),
                    );
                    packet_started = Instant::now();
                    metrics.add("replgen_apply_packets_applied_total", &[], 1.0);
                    metrics.add("replgen_apply_rows_applied_total", &[], entry.rows as f64);
                    metrics.add("replgen_apply_bytes_applied_total", &[], entry.size as f64);
                    metrics.set("replgen_apply_position_serial", entry.serial as f64);
                    bar.message(format!(
                        "{done}/{total} packets applied (to {})",
                        entry.serial
                    ));
                });
                bar.finish();
                if let Err(e) = &result {
                    let kind = metrics::error_kind(e);
                    metrics.add("replgen_apply_errors_total", &[("kind", &kind)], 1.0);
                }
                let summary = match result {
                    Ok(summary) => {
                        last_error.clear();
                        metrics.observe(
                            "replgen_apply_duration_seconds",
                            started.elapsed().as_secs_f64(),
                        );
                        if follow {
                            record_position(&metrics, &mut replica, &summary);
                        }
                        summary
                    }
                    Err(e) if follow && e.is_connection_lost() => {
                        match reconnect(&stop, &e, connect)? {
                            Some(reconnected) => replica = reconnected,
                            None => return Ok(()),
                        }
                        continue;
                    }
                    // Following, a failure (a network blip, a packet not yet fixed) is reported
                    // and retried at the next poll; the replica stays at its last good packet.
                    // A layout this binary does not know stays unknown: stop on it.
                    Err(e) if follow && !matches!(e, Error::SchemaVersion { .. }) => {
                        let message = crate::redact::conninfo(&e.to_string());
                        if message != last_error {
                            tracing::error!(
                                kind = metrics::error_kind(&e),
                                "{message}; retrying at each poll"
                            );
                            last_error = message;
                        }
                        if sleep_unless_stopped(&stop, interval) {
                            return Ok(());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let line = if summary.packets > 0 {
                    format!(
                        "applied packets {}..={} ({} packets, {} rows) in {:.2} s",
                        summary.from + 1,
                        summary.to,
                        summary.packets,
                        summary.rows,
                        summary.seconds
                    )
                } else {
                    format!("up to date at packet {}", summary.to)
                };
                // One-shot, the result is stdout's; following, every poll is a line of the log.
                if !follow {
                    say!("{line}");
                } else if summary.packets > 0 {
                    tracing::info!(
                        from = summary.from + 1,
                        to = summary.to,
                        packets = summary.packets,
                        rows = summary.rows,
                        seconds = millis(summary.seconds),
                        "applied packets"
                    );
                } else {
                    tracing::info!(serial = summary.to, "no changes: up to date");
                }
                if !follow || sleep_unless_stopped(&stop, interval) {
                    return Ok(());
                }
            }
        }
        Command::Status {
            db,
            from,
            json,
            max_lag,
            fetch,
        } => {
            let source = match from {
                Some(from) => Some(Source::parse(&from, fetch.options(&stop_flag())?)),
                None => None,
            };
            status::print(&db.db, source.as_ref(), json, max_lag)
        }
        Command::Compare { db, replica } => {
            let report = crate::compare::compare(&db.db, &replica, schema)?;
            for d in &report.differences {
                say!(
                    "table {} differs: {} rows on the first database, {} on the second",
                    d.table,
                    d.first_rows,
                    d.second_rows
                );
                for (key, how) in &d.keys {
                    say!("  key {key}: {}", how.describe());
                }
                if d.more_keys {
                    say!("  (more keys differ)");
                }
            }
            if report.differences.is_empty() {
                say!(
                    "replica identical: {} tables, {} rows",
                    report.tables,
                    report.rows
                );
                Ok(())
            } else {
                Err(Error::TablesDiffer {
                    differing: report.differences.len(),
                    tables: report.tables,
                })
            }
        }
    }
}

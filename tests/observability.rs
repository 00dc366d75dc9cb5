//! What an operator watches: Prometheus metrics of `dump --every` and `apply --follow`,
//! `status --max-lag` for cron or Nagios, the log on stderr (-v, -q, --log-format json, no
//! colour codes when piped), `--version` and help.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{Env, Workload};

/// A long-running mirror whose stderr lines are collected as they come.
struct Watched {
    child: common::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    fn spawn(args: &[&str]) -> Watched {
        let mut child = common::Child::spawn(
            Command::new(common::mirror_bin())
                .args(args)
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                sink.lock().unwrap().push(line);
            }
        });
        Watched { child, lines }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The address it serves metrics on, once it has said so.
    fn metrics_addr(&self) -> String {
        let mut addr = String::new();
        common::wait_until("the process serves metrics", || {
            let log = self.log();
            match log.split_once("serving metrics on http://") {
                Some((_, rest)) => {
                    addr = rest.split("/metrics").next().unwrap().to_string();
                    true
                }
                None => false,
            }
        });
        addr
    }

    /// SIGTERM, then the exit must be clean; returns the whole log.
    fn stop(mut self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}\n{}", self.log());
        // The reader thread ends at EOF, which the exit has caused.
        common::wait_until("its stderr is read to the end", || {
            Arc::strong_count(&self.lines) == 1
        });
        self.log()
    }
}

/// GET http://addr/metrics → the body.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics port");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The value of one series (`name` or `name{labels}`), 0 when absent.
fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[test]
fn metrics_advance_while_dump_every_and_apply_follow_run() {
    let env = Env::new("metrics");
    let dumper = Watched::spawn(&[
        "dump",
        "--db",
        &env.master,
        "--out",
        env.feed(),
        "--every",
        "100ms",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let dump_addr = dumper.metrics_addr();
    // Every family is listed from the start, before the first cut.
    let body = scrape(&dump_addr);
    for name in [
        "replgen_dump_cuts_total",
        "replgen_dump_rows_published_total",
        "replgen_dump_bytes_published_total",
        "replgen_dump_errors_total",
        "replgen_dump_position_serial",
        "replgen_dump_cut_duration_seconds",
    ] {
        assert!(body.contains(&format!("# TYPE {name} ")), "{name}:\n{body}");
    }
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 11, 0);
    work.run(&mut master, 50, true);
    common::wait_until("the dumper has published packet 1", || {
        value(&scrape(&dump_addr), "replgen_dump_position_serial") >= 1.0
    });
    let applier = Watched::spawn(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        env.feed(),
        "--follow",
        "--interval",
        "100ms",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let apply_addr = applier.metrics_addr();
    common::wait_until("the applier has applied packet 1", || {
        value(&scrape(&apply_addr), "replgen_apply_position_serial") >= 1.0
    });
    let first = scrape(&apply_addr);
    let first_dump = scrape(&dump_addr);

    work.run(&mut master, 50, true);
    // The dumper's metrics follow its cut's commit (and the cut's consumed log) a moment later:
    // the newest serial is the master's record, and both processes' metrics must reach it.
    // The log is read empty before the cuts are read, so the cut that emptied it is among them.
    common::wait_until("every write is applied", || {
        if env.pending_changes() != 0 {
            return false;
        }
        let last_cut: i64 = master
            .query_one("SELECT coalesce(max(serial), 0) FROM replgen.cuts", &[])
            .unwrap()
            .get(0);
        env.replica_position().unwrap_or(0) == last_cut
            && value(&scrape(&dump_addr), "replgen_dump_position_serial") == last_cut as f64
    });
    let newest = env.replica_position().unwrap() as f64;
    // The applier's metrics follow its position (set before its next poll ends).
    common::wait_until("the applier's metrics show the newest packet", || {
        let body = scrape(&apply_addr);
        value(&body, "replgen_apply_position_serial") == newest
            && value(&body, "replgen_apply_newest_serial") == newest
    });
    let second = scrape(&apply_addr);
    let second_dump = scrape(&dump_addr);
    for series in [
        "replgen_apply_position_serial",
        "replgen_apply_packets_applied_total",
        "replgen_apply_rows_applied_total",
        "replgen_apply_bytes_applied_total",
        "replgen_apply_packet_duration_seconds_count",
    ] {
        assert!(
            value(&second, series) > value(&first, series),
            "{series} did not advance:\n{first}\n---\n{second}"
        );
    }
    for series in [
        "replgen_dump_position_serial",
        "replgen_dump_cuts_total{result=\"packet\"}",
        "replgen_dump_rows_published_total",
        "replgen_dump_bytes_published_total",
        "replgen_dump_cut_duration_seconds_count",
    ] {
        assert!(
            value(&second_dump, series) > value(&first_dump, series),
            "{series} did not advance:\n{first_dump}\n---\n{second_dump}"
        );
    }
    assert_eq!(value(&second, "replgen_apply_packets_behind"), 0.0);
    assert_eq!(value(&second, "replgen_apply_lag_seconds"), 0.0);
    assert!(value(&second, "replgen_apply_position_created_timestamp_seconds") > 1.7e9);
    // The rows the dumper published are the rows the applier applied.
    assert_eq!(
        value(&second, "replgen_apply_rows_applied_total"),
        value(&second_dump, "replgen_dump_rows_published_total"),
        "applier:\n{second}\n---\ndumper:\n{second_dump}\n---\nindex:\n{}",
        std::fs::read_to_string(std::path::Path::new(env.feed()).join("index.xml"))
            .unwrap_or_default()
    );
    // Nothing changes any more: the next polls and cuts say so.
    common::wait_until("the applier has polled and found nothing new", || {
        value(
            &scrape(&apply_addr),
            "replgen_apply_runs_total{result=\"no_changes\"}",
        ) >= 1.0
    });
    common::wait_until("the dumper has found nothing to cut", || {
        value(
            &scrape(&dump_addr),
            "replgen_dump_cuts_total{result=\"no_changes\"}",
        ) >= 1.0
    });
    let not_found = {
        let mut stream = TcpStream::connect(&apply_addr).unwrap();
        write!(stream, "GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut r = String::new();
        stream.read_to_string(&mut r).unwrap();
        r
    };
    assert!(not_found.starts_with("HTTP/1.1 404"), "{not_found}");

    // The log: one line per cut and per poll, no colour codes on a pipe.
    let dump_log = dumper.stop();
    let apply_log = applier.stop();
    for log in [&dump_log, &apply_log] {
        assert!(
            !log.contains('\x1b'),
            "escape codes in piped stderr:\n{log}"
        );
    }
    assert!(
        dump_log.contains("INFO replgen_runtime::cli: published a packet serial=1 rows="),
        "{dump_log}"
    );
    assert!(
        dump_log.contains("no changes since the last packet serial="),
        "{dump_log}"
    );
    assert!(
        apply_log.contains("applied packets from=1 to="),
        "{apply_log}"
    );
    assert!(
        apply_log.contains("no changes: up to date serial="),
        "{apply_log}"
    );
    env.assert_identical();
}

#[test]
fn metrics_need_a_long_running_command_and_a_free_address() {
    let env = Env::new("metrics_usage");
    let err = env.mirror_fails(
        &[
            "dump",
            "--db",
            &env.master,
            "--out",
            env.feed(),
            "--metrics",
            "127.0.0.1:0",
        ],
        2,
    );
    assert!(err.contains("--every"), "{err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = env.mirror_fails(
        &[
            "apply",
            "--db",
            &env.replica,
            "--from",
            env.feed(),
            "--follow",
            "--metrics",
            &addr,
        ],
        1,
    );
    assert!(
        err.contains(&format!("--metrics {addr}: cannot listen there")),
        "{err}"
    );
}

#[test]
fn status_max_lag_exits_1_beyond_it_and_0_within() {
    let env = Env::new("max_lag");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 12, 0);
    work.run(&mut master, 20, true);
    env.dump();
    env.apply();
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--db", &env.replica];
        args.extend_from_slice(extra);
        env.mirror(&args)
    };
    // Caught up with the feed: within any limit.
    let out = status(&["--from", env.feed(), "--max-lag", "1ms"]);
    assert!(out.status.success(), "{out:?}");
    // Applied a moment ago: within an hour of now.
    let out = status(&["--max-lag", "1h"]);
    assert!(out.status.success(), "{out:?}");

    // The replica's packet is made old, and the feed has a newer one it has not applied.
    env.connect_replica()
        .batch_execute(
            "UPDATE replgen.replica_state SET packet_created = '2001-01-01T00:00:00.000000Z'",
        )
        .unwrap();
    work.run(&mut master, 20, true);
    env.dump();
    let out = status(&["--from", env.feed(), "--max-lag", "1h"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("s behind the newest packet (at packet 1), beyond --max-lag 3600s"),
        "{stderr}"
    );
    let out = status(&["--max-lag", "1h", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("s behind now (at packet 1)"), "{stderr}");
    // The report itself is still printed, whole.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["serial"], 1);

    // A replica with no position is beyond any limit.
    let env2 = Env::new("max_lag_empty");
    let err = env2.mirror_fails(&["status", "--db", &env2.replica, "--max-lag", "1d"], 1);
    assert!(err.contains("without a position"), "{err}");
}

#[test]
fn logs_are_plain_on_a_pipe_json_on_request_and_quiet_with_q() {
    let env = Env::new("logs");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 13, 0);
    work.run(&mut master, 20, true);
    let dump = ["dump", "--db", &env.master, "--out", env.feed()];
    let out = env.mirror(&dump);
    assert!(out.status.success());
    // Nothing changed since: the log says so (stdout stays empty, as scripts expect).
    let out = env.mirror(&dump);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no changes since the last packet serial=1"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");

    // json: one object per line, with the level and the event's fields.
    let out = env.mirror(&[&dump[..], &["--log-format", "json"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["serial"] == 1
            && l["message"] == "no changes since the last packet"),
        "{stderr}"
    );
    // An error is a json line too, naming its kind.
    let out = env.mirror(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        "/nonexistent/feed",
        "--log-format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert!(last["kind"].is_string(), "{stderr}");

    // -q: silent on success, errors still said.
    let out = env.mirror(&[&dump[..], &["-q"]].concat());
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = env.mirror_fails(
        &[
            "-q",
            "apply",
            "--db",
            &env.replica,
            "--from",
            "/nonexistent/feed",
        ],
        1,
    );
    assert!(err.starts_with("error: "), "{err}");

    // The server's NOTICEs (a dump creates its state tables `IF NOT EXISTS`) only with -v.
    let quiet = env.mirror(&dump);
    assert!(quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("server said"), "{stderr}");
    let verbose = env.mirror(&[&dump[..], &["-v"]].concat());
    assert!(verbose.status.success());
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("server said: "), "{stderr}");
    // RUST_LOG decides when set.
    let out = Command::new(common::mirror_bin())
        .args(dump)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_and_help() {
    let out = Command::new(common::mirror_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("mirror {}", env!("CARGO_PKG_VERSION")))
            && text.contains("schema_version"),
        "{text}"
    );
    let out = Command::new(common::mirror_bin())
        .args(["status", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--max-lag <DURATION>"), "{text}");
    assert!(text.contains("--log-format"), "{text}");
}

/// Runs mirror on a pseudo-terminal (util-linux `script`): what a person watching sees.
fn on_a_terminal(args: &[&str]) -> (bool, String) {
    let quoted: Vec<String> = std::iter::once(common::mirror_bin())
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn one_big_packet_shows_rows_progress_on_a_terminal_and_none_on_a_pipe() {
    let env = Env::new("progress");
    let rows = 20_000;
    env.connect_master()
        .batch_execute(&format!(
            "INSERT INTO artist (id, gid, name, sort_name) \
             SELECT i, md5(i::text)::uuid, 'A' || i, 'A' || i FROM generate_series(1, {rows}) i"
        ))
        .unwrap();
    env.dump();
    // Piped (as every test runs it): the result line, no bar.
    let piped = env.mirror(&["apply", "--db", &env.replica, "--from", env.feed()]);
    assert!(piped.status.success());
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains(" rows,") && !stderr.contains('\x1b'),
        "{stderr}"
    );

    // A second replica, applied on a terminal: one packet, and a bar over its rows.
    let replica = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("progress_tty"));
    common::psql_file(&replica, &common::root().join("tables.sql"));
    let (ok, screen) = on_a_terminal(&["apply", "--db", &replica, "--from", env.feed()]);
    assert!(ok, "{screen}");
    assert!(screen.contains(&format!("{rows}/{rows} rows")), "{screen}");
    assert!(screen.contains("applied packets 1..=1"), "{screen}");
    // -q: no bar even on a terminal.
    let again = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("progress_q"));
    common::psql_file(&again, &common::root().join("tables.sql"));
    let (ok, screen) = on_a_terminal(&["-q", "apply", "--db", &again, "--from", env.feed()]);
    assert!(ok, "{screen}");
    assert!(!screen.contains(" rows,"), "{screen}");
    // An export on a terminal counts its rows too.
    let (ok, screen) = on_a_terminal(&["export", "--db", &env.master, "--out", env.feed()]);
    assert!(ok, "{screen}");
    assert!(screen.contains(" rows, "), "{screen}");
    // And an import of that export, over the export's rows.
    let fresh = env
        .cluster
        .create_database(&replgen_testkit::Cluster::unique_name("progress_import"));
    common::psql_file(&fresh, &common::root().join("tables.sql"));
    let (ok, screen) = on_a_terminal(&["import", "--db", &fresh, "--from", env.feed()]);
    assert!(ok, "{screen}");
    assert!(screen.contains(&format!("{rows}/{rows} rows")), "{screen}");
}

/// A feed folder restored from an older copy is behind the replica: `status` refuses it as
/// `apply` does, instead of "0 packets behind" (a --max-lag check stayed green).
#[test]
fn status_refuses_a_feed_behind_the_replica() {
    let env = Env::new("status_behind");
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 12, 0);
    work.run(&mut master, 20, true);
    env.dump();
    let old = tempfile::tempdir().unwrap();
    common::feed::copy_dir(env.feed.path(), old.path());
    work.run(&mut master, 20, true);
    env.dump();
    env.apply();
    let old = old.path().to_str().unwrap();
    let err = env.mirror_fails(&["apply", "--db", &env.replica, "--from", old], 1);
    assert!(err.contains("rolled back"), "{err}");
    let err = env.mirror_fails(
        &[
            "status",
            "--db",
            &env.replica,
            "--from",
            old,
            "--max-lag",
            "1h",
        ],
        1,
    );
    assert!(
        err.contains("at packet 2") && err.contains("rolled back"),
        "{err}"
    );
}

//! Shared end-to-end machinery: a master and a replica database on one throwaway cluster per
//! test binary, the `mirror` binary driven through its command line, a random workload with
//! hostile values for any schema.yaml, and table-by-table comparison by PostgreSQL itself.
#![allow(dead_code, unused_imports)]

pub mod feed;
pub mod http;
pub mod s3;
pub mod workload;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use replgen_testkit::Cluster;

pub use workload::Workload;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn schema() -> replgen_schema::Schema {
    replgen_schema::load(&root().join("schema.yaml")).expect("the project's schema.yaml is valid")
}

pub fn mirror_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirror")
}

/// Runs `mirror args` made to abort at the crash point `point` (REPLGEN_CRASH_AT), and checks
/// that it died there and left nothing in its temporary folder.
pub fn crash_at(point: &str, args: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    crash_at_in(point, args, tmp.path());
    // Its temporary files had no names: the crash leaves nothing behind for anyone to clean.
    assert_eq!(
        names_in(tmp.path()),
        Vec::<String>::new(),
        "{point}: left in TMPDIR"
    );
}

/// [`crash_at`] with `TMPDIR` set to `tmp`, whatever the crash leaves there.
pub fn crash_at_in(point: &str, args: &[&str], tmp: &Path) {
    let out = Command::new(mirror_bin())
        .args(args)
        .env("REPLGEN_CRASH_AT", point)
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{point}: the process should have died there"
    );
    assert!(
        stderr.contains(&format!("crash point {point}")),
        "{point}: not reached: {stderr}"
    );
}

/// The names in a folder, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A child process killed (SIGKILL) and reaped when dropped unreaped: a failing test leaves no
/// process behind, nor a pipe that keeps cargo's output open.
pub struct Child(pub std::process::Child);

impl Child {
    pub fn spawn(cmd: &mut Command) -> Child {
        Child(cmd.spawn().expect("start mirror"))
    }
}

impl std::ops::Deref for Child {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Child {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How long [`wait_until`] waits before it calls the wait a hang: far beyond what any condition
/// takes on a loaded machine, so that it is never a verdict on speed.
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// Waits until `done()` holds (polled every 20 ms); panics only after [`HANG_GUARD`], naming
/// `what` it waited for.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {HANG_GUARD:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A master and a replica database with the project's tables, capture installed on the master,
/// and an empty feed folder.
pub struct Env {
    pub cluster: &'static Cluster,
    pub master: String,
    pub replica: String,
    pub feed: tempfile::TempDir,
    pub schema: replgen_schema::Schema,
}

impl Env {
    pub fn new(name: &str) -> Env {
        Env::on(Cluster::shared(), name)
    }

    /// The same on a given cluster (one a test may restart).
    pub fn on(cluster: &'static Cluster, name: &str) -> Env {
        let master = cluster.create_database(&Cluster::unique_name(&format!("{name}_master")));
        let replica = cluster.create_database(&Cluster::unique_name(&format!("{name}_replica")));
        for db in [&master, &replica] {
            psql_file(db, &root().join("tables.sql"));
        }
        let env = Env {
            cluster,
            master,
            replica,
            feed: tempfile::tempdir().unwrap(),
            schema: schema(),
        };
        env.mirror_ok(&["install", "--db", &env.master]);
        env
    }

    pub fn feed(&self) -> &str {
        self.feed.path().to_str().unwrap()
    }

    pub fn mirror(&self, args: &[&str]) -> Output {
        Command::new(mirror_bin())
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .expect("run mirror")
    }

    /// Runs mirror and returns its stdout, failing the test if it fails.
    pub fn mirror_ok(&self, args: &[&str]) -> String {
        let out = self.mirror(args);
        assert!(
            out.status.success(),
            "mirror {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs mirror expecting failure with `code`; returns stderr.
    pub fn mirror_fails(&self, args: &[&str], code: i32) -> String {
        let out = self.mirror(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "mirror {args:?} should exit {code}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn dump(&self) -> String {
        self.dump_with(&[])
    }

    /// `dump` of the master into the feed with `extra` arguments.
    pub fn dump_with(&self, extra: &[&str]) -> String {
        let mut args = vec!["dump", "--db", &self.master, "--out", self.feed()];
        args.extend_from_slice(extra);
        self.mirror_ok(&args)
    }

    pub fn apply(&self) -> String {
        self.mirror_ok(&["apply", "--db", &self.replica, "--from", self.feed()])
    }

    /// Applies the feed with the runtime's debug log (and `envs` set); returns its output.
    pub fn apply_logged(&self, envs: &[(&str, &str)]) -> String {
        let (status, log) = run_logged(
            Command::new(mirror_bin())
                .args(["apply", "--db", &self.replica, "--from", self.feed()])
                .envs(envs.iter().copied()),
        );
        assert!(status.success(), "mirror apply failed:\n{log}");
        log
    }

    pub fn connect_master(&self) -> postgres::Client {
        postgres::Client::connect(&self.master, postgres::NoTls).unwrap()
    }

    /// Committed changes on the master not yet cut into a packet (rows of the change logs).
    pub fn pending_changes(&self) -> i64 {
        let mut client = self.connect_master();
        self.schema
            .tables
            .iter()
            .map(|t| {
                client
                    .query_one(&format!("SELECT count(*) FROM replgen.log_{}", t.id), &[])
                    .unwrap()
                    .get::<_, i64>(0)
            })
            .sum()
    }

    pub fn connect_replica(&self) -> postgres::Client {
        postgres::Client::connect(&self.replica, postgres::NoTls).unwrap()
    }

    /// Asserts every replicated table holds the same rows on master and replica.
    pub fn assert_identical(&self) -> (usize, i64) {
        let master = digests(&self.master, &self.schema);
        let replica = digests(&self.replica, &self.schema);
        for ((name, m), (_, r)) in master.iter().zip(&replica) {
            assert_eq!(m, r, "table {name} differs between master and replica");
        }
        (master.len(), master.iter().map(|(_, (rows, _))| rows).sum())
    }

    /// Waits until every committed change on the master is cut and the replica has applied
    /// the newest packet (the deadline only guards against a hang).
    pub fn wait_until_caught_up(&self, master: &mut postgres::Client) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            // Read in one statement, so that a dumper's cut in between cannot be half seen.
            let logs: Vec<String> = self
                .schema
                .tables
                .iter()
                .map(|t| format!("(SELECT count(*) FROM replgen.log_{})", t.id))
                .collect();
            let read = master.query_one(
                &format!(
                    "SELECT (SELECT coalesce(max(serial), 0) FROM replgen.cuts), {}",
                    logs.join(" + ")
                ),
                &[],
            );
            let (cut, pending): (i64, i64) = match read {
                Ok(row) => (row.get(0), row.get::<_, Option<i64>>(1).unwrap_or(0)),
                // A server that was just restarted may still refuse for a moment; the
                // deadline says when it is a hang.
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "cannot read the master's cuts: {e}"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
            };
            let applied = self.replica_digest().last().unwrap().1 .0;
            if pending == 0 && cut > 0 && applied == cut {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the replica did not catch up: master cut {cut}, replica at {applied}, {pending} pending"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The replica's digest of every table (to prove a refusal changed nothing).
    pub fn replica_digest(&self) -> Vec<(String, (i64, String))> {
        let mut d = digests(&self.replica, &self.schema);
        let position = self.replica_position();
        d.push(("position".into(), (position.unwrap_or(-1), String::new())));
        d
    }

    /// The serial of the last packet applied to the replica; None before the first apply or
    /// import.
    pub fn replica_position(&self) -> Option<i64> {
        let mut client = self.connect_replica();
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('replgen.replica_state') IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        if !exists {
            return None;
        }
        client
            .query_opt("SELECT serial FROM replgen.replica_state", &[])
            .unwrap()
            .map(|r| r.get(0))
    }
}

/// (table, (row count, md5 of the sorted text of every row)) for each replicated table.
pub fn digests(db: &str, schema: &replgen_schema::Schema) -> Vec<(String, (i64, String))> {
    let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
    client
        .batch_execute("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET IntervalStyle = 'postgres'")
        .unwrap();
    schema
        .tables
        .iter()
        .map(|t| {
            let q = format!(
                "{}.{}",
                replgen_schema::quote_ident(&t.schema),
                replgen_schema::quote_ident(&t.name)
            );
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') \
                         FROM (SELECT t::text AS x FROM {q} t) s"
                    ),
                    &[],
                )
                .unwrap();
            (t.written_name.clone(), (row.get(0), row.get(1)))
        })
        .collect()
}

pub fn psql_file(db: &str, file: &Path) {
    let out = Command::new(replgen_testkit::pg_program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f"])
        .arg(file)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql -f {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads every data line of every packet listed in the feed's index, in order.
pub fn packet_lines(feed: &Path) -> Vec<(u64, String)> {
    use std::io::BufRead;
    let index = std::fs::read_to_string(feed.join("index.xml")).unwrap();
    let mut out = Vec::new();
    for entry in index.split("<packet ").skip(1) {
        let attr = |name: &str| {
            let start = entry.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            entry[start..start + entry[start..].find('"').unwrap()].to_string()
        };
        let serial: u64 = attr("serial").parse().unwrap();
        let file = std::fs::File::open(feed.join(attr("path"))).unwrap();
        for line in std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file)).lines() {
            let line = line.unwrap();
            if !line.starts_with('#') {
                out.push((serial, line));
            }
        }
    }
    out
}

/// Threads running the random workload against the master until stopped.
pub struct Writers {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    /// `count` writers; each gets its own seed and key range.
    pub fn start(env: &Env, count: u64, seed: u64) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicUsize::new(0));
        let threads = (0..count)
            .map(|w| {
                let (db, schema) = (env.master.clone(), env.schema.clone());
                let (stop, committed) = (stop.clone(), committed.clone());
                std::thread::spawn(move || {
                    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
                    let mut work = Workload::new(&mut client, &schema, seed + w, w as i64 + 1);
                    while !stop.load(Ordering::SeqCst) {
                        let failed = work.run(&mut client, 5, true);
                        committed.fetch_add(5 - failed, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Writers {
            stop,
            committed,
            threads,
        }
    }

    /// Transactions the writers have committed so far.
    pub fn committed(&self) -> usize {
        self.committed.load(Ordering::SeqCst)
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// How a mirror process started by [`run_killed_after`] ended.
pub enum Ended {
    /// SIGKILL stopped it while it ran.
    Killed,
    /// It exited on its own before the kill was due.
    Exited,
}

/// Runs `program args` and kills it with SIGKILL `delay` after its start, unless it has exited by
/// then. The child is reaped only here, so the kill can never reach another process.
/// Runs `cmd` (a mirror, or a shell that execs one) with the runtime's debug log; returns how
/// it ended and its stdout followed by its stderr.
pub fn run_logged(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let out = cmd
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "replgen_runtime=debug")
        .output()
        .expect("run mirror");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, log)
}

pub fn run_killed_after(program: &str, args: &[&str], delay: Duration) -> Ended {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() >= delay {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    match child.wait().unwrap().signal() {
        Some(9) => Ended::Killed,
        _ => Ended::Exited,
    }
}

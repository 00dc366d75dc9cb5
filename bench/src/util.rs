//! Shared pieces: the workload's rows, timing, child processes with their peak memory, the
//! mirror binary, and number formatting.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres::Client;
use replgen_testkit::Cluster;

/// The workspace root (where tables.sql, schema.yaml and migrations/ live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// The artist table's replicated columns, in table order.
pub const ARTIST_COLUMNS: &str =
    "id, gid, name, sort_name, begin_date, end_date, type, area, gender, comment, \
     edits_pending, last_updated, ended, rating, popularity, coordinates, fluency";

/// An INSERT ... SELECT of MusicBrainz-like artists with ids `from..=to` into `table`: mixed
/// NULLs, dates, floats, a point and an enum, about 190 bytes of COPY text per row.
pub fn insert_artists(table: &str, from: u64, to: u64) -> String {
    format!(
        "INSERT INTO {table} ({ARTIST_COLUMNS}) \
         SELECT g, md5('artist' || g)::uuid, \
                'Artist ' || g || CASE WHEN g % 7 = 0 THEN ' & The Band' ELSE '' END, \
                'Artist, ' || g, date '1940-01-01' + (g % 25000)::int, \
                CASE WHEN g % 4 = 0 THEN date '1990-01-01' + (g % 9000)::int END, \
                1 + g % 6, CASE WHEN g % 3 <> 0 THEN g % 5000 END, CASE WHEN g % 2 = 0 THEN 1 + g % 3 END, \
                CASE WHEN g % 5 = 0 THEN 'UK rock band, formed ' || (1950 + g % 70) ELSE '' END, g % 3, \
                timestamptz '2024-01-01 00:00:00+00' + g * interval '17 seconds', g % 4 = 0, \
                CASE WHEN g % 3 = 0 THEN (g % 100) / 10.0 END, (g % 100000) / 7.0, \
                CASE WHEN g % 10 = 0 THEN point(g % 180, g % 90) END, \
                (ARRAY['basic', 'intermediate', 'advanced', 'native']::fluency[])[1 + g % 4] \
         FROM generate_series({from}::bigint, {to}::bigint) g"
    )
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The settings every session that reads or writes row text uses (as the runtime's).
pub fn session(client: &mut Client) {
    client
        .batch_execute(replgen_runtime::sql::SESSION_SETTINGS)
        .expect("session settings");
}

/// Runs each `;`-separated statement on its own (VACUUM refuses a multi-statement batch); a
/// script with dollar quotes runs as one batch.
pub fn exec(client: &mut Client, sql: &str) {
    let statements: Vec<&str> = if sql.contains('$') {
        vec![sql]
    } else {
        sql.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    };
    for stmt in statements {
        client.batch_execute(stmt).unwrap_or_else(|e| {
            let why = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string());
            panic!("{stmt}: {why}")
        });
    }
}

/// Runs `sql` after a CHECKPOINT (so one statement's dirty pages do not bill the next).
pub fn timed(client: &mut Client, sql: &str) -> Duration {
    exec(client, "CHECKPOINT");
    let start = Instant::now();
    exec(client, sql);
    start.elapsed()
}

pub fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// A replicated schema the benchmarks run: its folder (tables.sql and the generated
/// migrations/, relative to the workspace root) and its release mirror binary.
pub struct Shape {
    pub dir: &'static str,
    pub mirror: fn(&[&str]) -> Command,
}

/// The project's own schema (the example mirror's 15 tables) and `mirror`.
pub const PROJECT: Shape = Shape { dir: "", mirror };

impl Shape {
    /// A database created from the shape's tables.sql, optionally with capture installed.
    pub fn database(&self, cluster: &Cluster, name: &str, capture: bool) -> (String, Client) {
        let dir = workspace_root().join(self.dir);
        let url = cluster.create_database(name);
        let mut client = cluster.connect(name);
        exec(&mut client, &read_text(&dir.join("tables.sql")));
        if capture {
            exec(
                &mut client,
                &read_text(&dir.join("migrations/V1__replgen_capture.sql")),
            );
        }
        session(&mut client);
        (url, client)
    }
}

/// A database created from tables.sql, optionally with capture installed.
pub fn database(cluster: &Cluster, name: &str, capture: bool) -> (String, Client) {
    PROJECT.database(cluster, name, capture)
}

/// Replica and master agree on every row of `tables` (a count and a sum of row hashes each, in
/// one query), so a benchmark cannot time a wrong apply.
pub fn same_tables(master: &mut Client, replica: &mut Client, tables: &[&str], what: &str) {
    let digest = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{t}', count(*)::text || ' ' || coalesce(sum(hashtext(x::text)::bigint), 0)::text FROM {t} x"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    // Sorted: a parallel append returns the tables in any order.
    let read = |c: &mut Client| -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = c
            .query(&digest, &[])
            .expect("digest")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        rows.sort();
        rows
    };
    let (m, r) = (read(master), read(replica));
    let differ: Vec<&str> = m
        .iter()
        .zip(&r)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.as_str())
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: the replica's rows differ from the master's in {}",
        differ.join(", ")
    );
}

/// The cluster settings of every section (on top of testkit's).
pub const CLUSTER_SETTINGS: &[&str] = &[];

pub fn cluster() -> Cluster {
    cluster_with(&[])
}

/// A cluster with `settings` on top of [`CLUSTER_SETTINGS`] (later lines win).
pub fn cluster_with(settings: &[&str]) -> Cluster {
    let all: Vec<&str> = CLUSTER_SETTINGS.iter().chain(settings).copied().collect();
    let cluster = Cluster::start_with(&all);
    // A killed benchmark would otherwise leave its server running.
    cluster.spawn_watchdog();
    cluster
}

/// What a finished child process did.
pub struct Run {
    pub elapsed: Duration,
    /// Peak resident set size of the child alone, bytes.
    pub max_rss: u64,
    /// The child's user and system CPU time (with its own children's).
    pub cpu: Duration,
    pub stdout: String,
}

/// Runs a program to completion, timing it and taking its peak RSS. Fails (panics) when it exits
/// unsuccessfully: that is a real error, not a slow machine.
///
/// The peak comes from GNU time (`/usr/bin/time -f %M`) when installed: the child's own
/// `ru_maxrss` is not usable directly, because a child spawned with vfork (as Rust's Command
/// does) inherits this process's high-water mark at exec, and this process may be large. A small
/// intermediate process that forks is exact. Without GNU time, `VmHWM` is sampled from /proc
/// every 2 ms (it may miss growth in the last 2 ms before exit).
#[allow(clippy::zombie_processes)] // reaped by wait4 in wait_child
pub fn run(cmd: &mut Command, what: &str) -> Run {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let err = tempfile::NamedTempFile::new().expect("temp file");
    let rss_file = tempfile::NamedTempFile::new().expect("temp file");
    let gnu_time = Path::new("/usr/bin/time");
    let mut wrapped;
    let cmd = if gnu_time.exists() {
        wrapped = Command::new(gnu_time);
        wrapped
            .args(["-f", "%M", "-o"])
            .arg(rss_file.path())
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        &mut wrapped
    } else {
        cmd
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.reopen().expect("reopen")))
        .stderr(Stdio::from(err.reopen().expect("reopen")));
    let start = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let pid = child.id();
    let sampled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = (!gnu_time.exists()).then(|| {
        let (sampled, done) = (sampled.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("VmHWM:"))
                            .map(str::to_string)
                    })
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(1)
                            .and_then(|v| v.parse::<u64>().ok())
                    })
                {
                    sampled.fetch_max(kb * 1024, std::sync::atomic::Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    });
    let (status, cpu) = wait_child(pid);
    let elapsed = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    let stdout = std::fs::read_to_string(out.path()).unwrap_or_default();
    let stderr = std::fs::read_to_string(err.path()).unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        panic!("{what} failed (wait status {status}):\n{stdout}\n{stderr}");
    }
    let max_rss = if gnu_time.exists() {
        std::fs::read_to_string(rss_file.path())
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse::<u64>().ok())
                    .next_back()
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    } else {
        sampled.load(std::sync::atomic::Ordering::SeqCst)
    };
    drop(child);
    Run {
        elapsed,
        max_rss,
        cpu,
        stdout,
    }
}

/// Waits for one child by pid; its wait status and its CPU time (user and system, with the
/// children it waited for).
pub fn wait_child(pid: u32) -> (i32, Duration) {
    let mut status = 0;
    // SAFETY: rusage is plain old data, written by wait4 for the child we started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child; the pointers are to live locals.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            panic!("wait4 {pid}: {e}");
        }
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (status, time(usage.ru_utime) + time(usage.ru_stime))
}

/// Sends SIGTERM to a child we started.
pub fn terminate(pid: u32) {
    // SAFETY: a signal to our own child's pid, which we have not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// The release `mirror` binary, built (or found up to date) by cargo once per run.
pub fn mirror_binary() -> PathBuf {
    // Another build's binary (say, the previous commit's, for a before/after comparison).
    if let Some(path) = std::env::var_os("REPLGEN_BENCH_MIRROR") {
        return PathBuf::from(path);
    }
    release_binary("mirror")
}

/// A release binary of the root package (`mirror`, or the schema-change test's `evolve-vN`),
/// built (or found up to date) by cargo once per run.
pub fn release_binary(name: &'static str) -> PathBuf {
    release_binary_of("replgen-mirror", name)
}

/// A release binary `name` of the workspace's `package`, built (or found up to date) once per run.
pub fn release_binary_of(package: &'static str, name: &'static str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(&str, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| *n == name) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the release {name} binary (cargo build --release --bin {name})");
    let status = Command::new(cargo)
        .args(["build", "--release", "-q", "-p", package, "--bin", name])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo build --release --bin {name} failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("release").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    built.push((name, path.clone()));
    path
}

pub fn mirror(args: &[&str]) -> Command {
    let mut cmd = Command::new(mirror_binary());
    cmd.args(args).env("RUST_LOG", "warn");
    cmd
}

/// Streams `COPY ... TO STDOUT` into a sink (or a file); bytes copied.
pub fn copy_out(client: &mut Client, sql: &str, file: Option<&Path>) -> u64 {
    let mut reader = client
        .copy_out(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match file {
        Some(path) => {
            let mut f =
                std::io::BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
            let n = std::io::copy(&mut reader, &mut f).expect("copy out");
            f.flush().expect("flush");
            n
        }
        None => std::io::copy(&mut reader, &mut std::io::sink()).expect("copy out"),
    }
}

/// Streams a file into `COPY ... FROM STDIN`.
pub fn copy_in(client: &mut Client, sql: &str, file: &Path) {
    let mut writer = client.copy_in(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut f = File::open(file).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n]).expect("copy in");
    }
    writer.finish().unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Decompressed size of a gzip file.
pub fn gunzipped_size(path: &Path) -> u64 {
    let mut gz =
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(File::open(path).expect("open")));
    std::io::copy(&mut gz, &mut std::io::sink()).expect("gunzip")
}

/// Every `*.gz` under `dir`, newest serial last (paths sort by serial).
pub fn packets(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    walk(&p, found);
                }
            } else if p.extension().is_some_and(|x| x == "gz")
                && p.to_string_lossy().contains("replication-")
            {
                found.push(p);
            }
        }
    }
    walk(&dir.join("packets"), &mut found);
    found.sort();
    found
}

pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

pub fn rate(rows: u64, d: Duration) -> String {
    let r = rows as f64 / d.as_secs_f64().max(1e-9);
    if r >= 1e6 {
        format!("{:.2}M rows/s", r / 1e6)
    } else {
        format!("{:.0}k rows/s", r / 1e3)
    }
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn rows_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

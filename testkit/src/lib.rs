//! Throwaway PostgreSQL clusters for tests and benchmarks.
//!
//! Each [`Cluster`] is a fresh `initdb` in a private temporary folder, listening only on a Unix
//! socket inside that folder (no TCP port, so parallel test binaries never collide), with trust
//! authentication for the `postgres` superuser. PostgreSQL refuses to run as root, so when the
//! test runs as root the server runs as the unprivileged user `nobody`. The cluster is stopped
//! and its folder removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the machine's PostgreSQL 15 binaries live (Debian's layout); `PG_BIN` overrides it.
pub fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    for candidate in [
        "/usr/lib/postgresql/15/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/17/bin",
    ] {
        if Path::new(candidate).join("initdb").exists() {
            return PathBuf::from(candidate);
        }
    }
    PathBuf::from("/usr/lib/postgresql/15/bin")
}

/// Path to one PostgreSQL program (initdb, pg_ctl, psql, pg_dump, pgbench, ...).
pub fn pg_program(name: &str) -> PathBuf {
    pg_bin_dir().join(name)
}

pub struct Cluster {
    root: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    // SAFETY-free: `id -u` avoids a libc dependency and runs once per cluster.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Starts a new cluster with default settings.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Starts a new cluster; `settings` are extra `postgresql.conf` lines (`name = value`).
    pub fn start_with(settings: &[&str]) -> Cluster {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("replgen-pg-{}-{}", std::process::id(), n));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create cluster folder");
        let data = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir).expect("create socket folder");
        let run_as = if is_root() { Some("nobody") } else { None };
        if run_as.is_some() {
            let status = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&root)
                .status()
                .expect("chown cluster folder");
            assert!(status.success(), "chown of {} failed", root.display());
            // The folder's parents must be traversable by nobody.
            let _ = Command::new("chmod").arg("755").arg(&root).status();
        }
        let cluster = Cluster {
            root,
            data,
            socket_dir,
            port: 5432,
            run_as,
        };
        cluster.run(
            &pg_program("initdb"),
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let mut conf = String::from(
            "listen_addresses = ''\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 100\n\
             shared_buffers = 256MB\n\
             max_wal_size = 4GB\n\
             log_min_messages = warning\n",
        );
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            cluster.socket_dir.display()
        ));
        for line in settings {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = cluster.data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("read postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("write postgresql.conf");
        let log = cluster.root.join("server.log");
        if run_as.is_some() {
            std::fs::write(&log, b"").unwrap();
            let _ = Command::new("chown")
                .arg("nobody:nogroup")
                .arg(&log)
                .status();
        }
        cluster.run(
            &pg_program("pg_ctl"),
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        cluster
    }

    fn run(&self, program: &Path, args: &[&str]) {
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid",
                    user,
                    "--regid",
                    "nogroup",
                    "--clear-groups",
                    "--",
                ])
                .arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args).stdin(Stdio::null()).env("LC_ALL", "C");
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        if !out.status.success() {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            panic!(
                "{} {:?} failed: {}\n{}\n{}\nserver log:\n{}",
                program.display(),
                args,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log
            );
        }
    }

    /// A libpq-style connection string for `dbname` on this cluster.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            self.socket_dir.display(),
            self.port,
            dbname
        )
    }

    /// Connects to `dbname`.
    pub fn connect(&self, dbname: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(dbname), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {dbname}: {e}"))
    }

    /// Creates a new, empty database and returns its connection string.
    pub fn create_database(&self, dbname: &str) -> String {
        let mut client = self.connect("postgres");
        client
            .batch_execute(&format!(
                "CREATE DATABASE \"{}\"",
                dbname.replace('"', "\"\"")
            ))
            .unwrap_or_else(|e| panic!("create database {dbname}: {e}"));
        self.url(dbname)
    }

    /// Runs `psql` with the given arguments against `dbname`, returning its stdout.
    pub fn psql(&self, dbname: &str, sql: &str) -> String {
        let out = Command::new(pg_program("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-d",
                &self.url(dbname),
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One cluster for the whole test binary, started on first use. Statics are never dropped,
    /// so a watchdog process stops the server and removes its folder once this process exits
    /// (normally, by panic, or killed).
    pub fn shared() -> &'static Cluster {
        static SHARED: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = Cluster::start();
            cluster.spawn_watchdog();
            cluster
        })
    }

    /// A cluster of its own for a test that restarts or stops the server, kept (like
    /// [`Cluster::shared`]) until the process exits, then removed by a watchdog.
    pub fn dedicated() -> &'static Cluster {
        let cluster: &'static Cluster = Box::leak(Box::new(Cluster::start()));
        cluster.spawn_watchdog();
        cluster
    }

    /// Restarts the server (a fast shutdown: open sessions are terminated, as an operator's
    /// restart does), returning once it accepts connections again.
    pub fn restart(&self) {
        let log = self.root.join("server.log");
        self.run(
            &pg_program("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
    }

    /// Starts a process that stops this server and removes its folder once this process is gone,
    /// however it ended (normally, by panic, or killed): for clusters that may never be dropped.
    /// A cluster already dropped (its data folder removed) is left alone.
    pub fn spawn_watchdog(&self) {
        let stop = match self.run_as {
            Some(user) => format!(
                "setpriv --reuid {user} --regid nogroup --clear-groups -- '{}' -D '{}' -m immediate -w stop",
                pg_program("pg_ctl").display(),
                self.data.display()
            ),
            None => format!("'{}' -D '{}' -m immediate -w stop", pg_program("pg_ctl").display(), self.data.display()),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             if [ -d '{data}' ]; then {stop} >/dev/null 2>&1; rm -rf '{root}'; fi",
            pid = std::process::id(),
            data = self.data.display(),
            root = self.root.display()
        );
        // Deliberately not waited for: it outlives this process to clean up after it.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
    }

    /// A database name no other test in this process uses.
    pub fn unique_name(prefix: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::SeqCst))
    }

    /// The socket folder (the `host` of connection strings).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = pg_program("pg_ctl");
        let args = [
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = match self.run_as {
            Some(user) => Command::new("setpriv")
                .args([
                    "--reuid",
                    user,
                    "--regid",
                    "nogroup",
                    "--clear-groups",
                    "--",
                ])
                .arg(&pg_ctl)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            None => Command::new(&pg_ctl)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        };
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_queries_and_stops() {
        let cluster = Cluster::start();
        let url = cluster.create_database("kit");
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .unwrap();
        let version: i32 = row.get(0);
        assert!(version >= 150000, "PostgreSQL 15 or newer, got {version}");
        let root = cluster.root.clone();
        drop(cluster);
        assert!(!root.exists());
    }
}

//! A real S3-compatible server for the object storage tests: `s3s-fs` (crates.io, installed by
//! `scripts/ensure-s3s`), serving signed S3 requests from a temporary folder on 127.0.0.1, one
//! per test binary. Each bucket is a folder under its root, so a test reads and damages what
//! the bucket holds directly. The server and its folder go when the test process does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const ACCESS_KEY: &str = "replgen-test-access";
pub const SECRET_KEY: &str = "replgen-test-secret-do-not-print";

pub struct S3 {
    pub root: PathBuf,
    pub endpoint: String,
}

/// The server, started on first use; the AWS_* variables the mirror binary reads are set in
/// this process (every child inherits them) before any test of the binary runs a command.
pub fn server() -> &'static S3 {
    static SERVER: OnceLock<S3> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> S3 {
    let program = which("s3s-fs").unwrap_or_else(|| {
        panic!(
            "s3s-fs is not installed, and the object storage tests need it: run scripts/ensure-s3s \
             (cargo install --locked s3s-fs@0.14.1 --features binary)"
        )
    });
    let root = tempfile::Builder::new()
        .prefix("replgen-s3-")
        .tempdir()
        .unwrap()
        .keep();
    // A free port: bound, read, released; s3s-fs takes it at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    // Stops the server and removes its folder once this process is gone, however it ended.
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill -9 {server}; rm -rf '{root}'",
        pid = std::process::id(),
        server = child.id(),
        root = root.display()
    );
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the s3s-fs watchdog");
    std::mem::forget(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    super::wait_until("s3s-fs accepts connections", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // Set once, before any command of this test binary starts (every test calls `server()`
    // first), so no child is spawned while the environment changes.
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        std::env::set_var(name, value);
    }
    S3 { root, endpoint }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(home)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

impl S3 {
    /// A new, empty bucket: its `s3://` URL for a feed at `prefix`, and the folder on disk
    /// where the server keeps that prefix's objects.
    pub fn bucket(&self, name: &str, prefix: &str) -> (String, PathBuf) {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        (format!("s3://{name}/{prefix}"), dir.join(prefix))
    }
}

/// Every object under `dir` (a prefix's folder on disk), relative to it, sorted.
pub fn objects(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

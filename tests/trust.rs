//! Issue 13, network and shared machine: hostile HTTP servers on 127.0.0.1 (silent, dripping,
//! redirecting to file://, failing) and a feed folder with planted symlinks. Every verdict is an
//! error kind and message and an exit code; time appears only as a generous hang guard.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Env, Workload};

/// How long a command may take before the test calls it hung.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// What a hostile server does with a request for `path`.
type Handler = Box<dyn Fn(&str, TcpStream) + Send + Sync + 'static>;

/// Serves every connection on its own thread with `handler`; reports each request's path.
fn hostile(handler: Handler) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    let handler = std::sync::Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (tx, handler) = (tx.clone(), std::sync::Arc::clone(&handler));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let _ = tx.send(path.clone());
                handler(&path, stream);
            });
        }
    });
    (addr, rx)
}

/// Accepts and never answers (holds the connection until the client leaves).
fn silent(_: &str, mut stream: TcpStream) {
    let mut buf = [0u8; 64];
    let _ = std::io::Read::read(&mut stream, &mut buf);
}

fn serve_file(stream: &mut TcpStream, body: &[u8]) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
}

/// Runs mirror, killing it and failing the test when it outlives the hang guard.
fn run_guarded(args: &[&str]) -> Output {
    let child = Command::new(common::mirror_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_guarded(child, args)
}

fn wait_guarded(mut child: Child, args: &[&str]) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mirror {args:?} hung (killed after {HANG_GUARD:?}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A feed with three packets of a small workload.
fn env_with_packets(name: &str) -> Env {
    let env = Env::new(name);
    let mut master = env.connect_master();
    let mut work = Workload::new(&mut master, &env.schema, 13, 0);
    for _ in 0..3 {
        work.run(&mut master, 50, true);
        env.dump();
    }
    env
}

#[test]
fn a_silent_server_fails_apply_at_the_index_deadline() {
    let env = Env::new("trust_silent");
    let (addr, _) = hostile(Box::new(silent));
    let from = format!("http://{addr}/feed");
    let out = run_guarded(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        &from,
        "--fetch-timeout",
        "500ms",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "{from}/index.xml: not fetched within its deadline of 0.500 s"
        )),
        "{all}"
    );
}

#[test]
fn a_dripping_packet_fails_apply_at_its_deadline_and_changes_nothing() {
    let env = env_with_packets("trust_drip");
    let before = env.replica_digest();
    let feed = env.feed.path().to_path_buf();
    let (addr, _) = hostile(Box::new(move |path, mut stream| {
        if path.ends_with("index.xml") {
            return serve_file(&mut stream, &std::fs::read(feed.join("index.xml")).unwrap());
        }
        // Headers promise the whole packet; the body comes one byte at a time.
        let body = std::fs::read(feed.join(path)).unwrap_or_default();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        for b in body {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }));
    let out = run_guarded(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        &format!("http://{addr}"),
        "--fetch-timeout",
        "1s",
        "--min-rate",
        "1MiB",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("error: http://{addr}/packets/"))
            && all.contains("not fetched within its deadline of"),
        "{all}"
    );
    assert_eq!(env.replica_digest(), before);
}

#[test]
fn sigterm_during_a_download_stops_apply_with_nothing_applied() {
    let env = env_with_packets("trust_sigterm");
    let before = env.replica_digest();
    let feed = env.feed.path().to_path_buf();
    let (addr, requests) = hostile(Box::new(move |path, mut stream| {
        if path.ends_with("index.xml") {
            serve_file(&mut stream, &std::fs::read(feed.join("index.xml")).unwrap());
        } else {
            silent(path, stream);
        }
    }));
    let args = [
        "apply",
        "--db",
        &env.replica,
        "--from",
        &format!("http://{addr}"),
    ];
    let child = Command::new(common::mirror_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the packet request itself (the index is answered first).
    loop {
        let path = requests
            .recv_timeout(HANG_GUARD)
            .expect("apply asks for a packet");
        if !path.ends_with("index.xml") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = wait_guarded(child, &args);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("interrupted"), "{all}");
    assert_eq!(env.replica_digest(), before);
}

#[test]
fn redirects_to_file_urls_are_refused_by_apply_status_and_import() {
    let env = Env::new("trust_redirect");
    let (addr, _) = hostile(Box::new(|_, mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }));
    let from = format!("http://{addr}");
    for command in ["apply", "status", "import"] {
        let out = run_guarded(&[command, "--db", &env.replica, "--from", &from]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {all}");
        assert!(
            all.contains("redirect refused")
                && all.contains("file:///etc/passwd")
                && all.contains("only http and https redirects are followed"),
            "{command}: {all}"
        );
    }
}

#[test]
fn http_redirects_are_followed() {
    let env = env_with_packets("trust_redirect_ok");
    let real = common::http::serve(env.feed.path().to_path_buf());
    let target = real.base.clone();
    let (addr, _) = hostile(Box::new(move |path, mut stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 301 Moved\r\nLocation: {target}/{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }));
    let out = env.mirror_ok(&[
        "apply",
        "--db",
        &env.replica,
        "--from",
        &format!("http://{addr}"),
    ]);
    assert!(out.contains("applied packets 1..=3"), "{out}");
    env.assert_identical();
}

#[test]
fn passwords_never_appear_in_any_output() {
    let env = Env::new("trust_redact");
    let (addr, _) = hostile(Box::new(|_, mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }));
    // A closed port: bind one, then let it go.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for host in [addr, closed.to_string()] {
        let from = format!("http://feeduser:S3cretFeedPw@{host}/feed");
        let out = run_guarded(&["apply", "--db", &env.replica, "--from", &from]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains("S3cretFeedPw"), "{all}");
        assert!(!all.contains("feeduser"), "{all}");
        let shown = format!("http://***@{host}/feed/index.xml");
        assert_eq!(
            all.matches(&shown).count(),
            all.matches("://").count(),
            "{all}"
        );
        assert!(all.contains(&format!("error: {shown}: ")), "{all}");
        assert!(!all.contains(&format!("{shown}: {shown}")), "{all}");
    }
    // A wrong database password, as a libpq string and as a URL.
    let url = env.replica.clone();
    let wrong_url = if let Some(rest) = url.strip_prefix("postgres://") {
        let at = rest.find('@').map(|i| &rest[i + 1..]).unwrap_or(rest);
        format!("postgres://nobody_here:Wr0ngDbPw@{at}")
    } else {
        format!("{url} user=nobody_here password=Wr0ngDbPw")
    };
    let out = run_guarded(&["status", "--db", &wrong_url]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("Wr0ngDbPw"), "{all}");
}

#[test]
fn a_symlinked_tmp_folder_is_refused_and_its_target_untouched() {
    let env = Env::new("trust_tmp_link");
    let elsewhere = tempfile::tempdir().unwrap();
    let precious = elsewhere.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), env.feed.path().join(".replgen-tmp")).unwrap();
    let err = env.mirror_fails(&["dump", "--db", &env.master, "--out", env.feed()], 1);
    assert!(
        err.contains(".replgen-tmp") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
}

#[test]
fn a_symlinked_index_tmp_is_replaced_and_its_target_untouched() {
    let env = Env::new("trust_index_link");
    let elsewhere = tempfile::tempdir().unwrap();
    let precious = elsewhere.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let index = env.feed.path().join("index.xml");
    std::os::unix::fs::symlink(&precious, env.feed.path().join(".index.xml.tmp")).unwrap();
    env.dump();
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    let meta = std::fs::symlink_metadata(&index).unwrap();
    assert!(meta.is_file(), "index.xml must be a plain file");
    assert!(std::fs::read_to_string(&index).unwrap().contains("<"));
}

#[test]
fn retries_of_server_errors_stay_inside_the_deadline() {
    let env = Env::new("trust_retries");
    let (addr, _) = hostile(Box::new(|_, mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }));
    // The backoff between five attempts alone is longer than this deadline.
    let out = run_guarded(&[
        "status",
        "--db",
        &env.replica,
        "--from",
        &format!("http://{addr}"),
        "--fetch-timeout",
        "300ms",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "error: http://{addr}/index.xml: not fetched within its deadline of 0.300 s"
        )),
        "{all}"
    );
}

//! `--metrics ADDR`: the long-running commands' counters, gauges and duration histograms in
//! Prometheus' text format on `http://ADDR/metrics`, served by one plain thread (a scrape is
//! one short request; no async runtime for that).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Upper bounds (seconds) of the duration histograms: a cut or an apply takes from
/// milliseconds (nothing changed) to minutes (a big batch).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative); the text form adds them up.
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

struct Family {
    kind: Kind,
    help: &'static str,
    /// By rendered label set (`kind="db"`, or empty).
    values: BTreeMap<String, f64>,
    histogram: Histogram,
}

/// A fixed set of metric families, declared up front so that a scrape lists every one (at 0)
/// before anything has happened.
pub(super) struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Metrics {
    pub(super) fn new(declared: &[(&'static str, Kind, &'static str)]) -> Arc<Metrics> {
        let families = declared
            .iter()
            .map(|&(name, kind, help)| {
                let mut values = BTreeMap::new();
                if kind != Kind::Histogram {
                    values.insert(String::new(), 0.0);
                }
                let histogram = Histogram::default();
                (
                    name,
                    Family {
                        kind,
                        help,
                        values,
                        histogram,
                    },
                )
            })
            .collect();
        Arc::new(Metrics {
            families: Mutex::new(families),
        })
    }

    fn with(&self, name: &str, f: impl FnOnce(&mut Family)) {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        match families.get_mut(name) {
            Some(family) => f(family),
            None => debug_assert!(false, "metric {name} is not declared"),
        }
    }

    /// Adds `by` to a counter (with labels, e.g. `[("kind", "db")]`, or none).
    pub(super) fn add(&self, name: &str, labels: &[(&str, &str)], by: f64) {
        let key = render_labels(labels);
        self.with(name, |family| {
            if !key.is_empty() {
                // A labelled family lists only the label sets that occurred.
                family.values.remove("");
            }
            *family.values.entry(key).or_insert(0.0) += by;
        });
    }

    pub(super) fn set(&self, name: &str, value: f64) {
        self.with(name, |family| {
            family.values.insert(String::new(), value);
        });
    }

    pub(super) fn observe(&self, name: &str, seconds: f64) {
        self.with(name, |family| {
            let h = &mut family.histogram;
            if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
                h.counts[i] += 1;
            }
            h.sum += seconds;
            h.count += 1;
        });
    }

    /// The text exposition format (version 0.0.4).
    pub(super) fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            if family.kind == Kind::Histogram {
                let h = &family.histogram;
                let mut cumulative = 0;
                for (le, n) in BUCKETS.iter().zip(h.counts) {
                    cumulative += n;
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum {}", h.sum);
                let _ = writeln!(out, "{name}_count {}", h.count);
                continue;
            }
            for (labels, value) in &family.values {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The kind of an error as a label value: its variant's name in snake case (`Db` → `db`,
/// `PacketMismatch` → `packet_mismatch`). Read from `Debug` so that a new variant needs no
/// list here.
pub(super) fn error_kind(e: &Error) -> String {
    let debug = format!("{e:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut kind = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                kind.push('_');
            }
            kind.push(c.to_ascii_lowercase());
        } else {
            kind.push(c);
        }
    }
    kind
}

/// Seconds since the Unix epoch on this machine's clock.
pub(super) fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Binds `addr` and serves `GET /metrics` from a thread for the rest of the process's life;
/// returns the bound address (port 0 picks a free one).
pub(super) fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::Io {
        context: format!("--metrics {addr}: cannot listen there"),
        source,
    })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        context: format!("--metrics {addr}: cannot read the bound address"),
        source,
    })?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, &metrics) {
                    tracing::debug!("metrics: a scrape failed: {e}");
                }
            }
        })
        .map_err(|source| Error::Io {
            context: "cannot start the metrics thread".into(),
            source,
        })?;
    tracing::info!("serving metrics on http://{bound}/metrics");
    Ok(bound)
}

/// One request, one response, then the connection closes.
fn answer(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    // A client that connects and says nothing must not hold the only serving thread.
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are read and ignored (a bounded number of them).
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "metrics are at /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

/// What `dump --every` exports.
pub(super) fn for_dump() -> Arc<Metrics> {
    use Kind::*;
    Metrics::new(&[
        (
            "replgen_dump_cuts_total",
            Counter,
            "Cuts by result: packet (one was published) or no_changes.",
        ),
        (
            "replgen_dump_rows_published_total",
            Counter,
            "Rows in the packets this process published.",
        ),
        (
            "replgen_dump_bytes_published_total",
            Counter,
            "Bytes (gzip) of the packets this process published.",
        ),
        (
            "replgen_dump_errors_total",
            Counter,
            "Failed cuts by kind of error (db, io, ...).",
        ),
        (
            "replgen_dump_position_serial",
            Gauge,
            "The serial of the newest packet the feed has published (0: none yet).",
        ),
        (
            "replgen_dump_last_cut_timestamp_seconds",
            Gauge,
            "When the last successful cut ended (Unix time).",
        ),
        (
            "replgen_dump_cut_duration_seconds",
            Histogram,
            "How long each successful cut took.",
        ),
    ])
}

/// What `apply --follow` exports.
pub(super) fn for_apply() -> Arc<Metrics> {
    use Kind::*;
    Metrics::new(&[
        ("replgen_apply_runs_total", Counter, "Polls of the feed by result: applied (one or more packets) or no_changes."),
        ("replgen_apply_packets_applied_total", Counter, "Packets this process applied."),
        ("replgen_apply_rows_applied_total", Counter, "Rows in the packets this process applied."),
        ("replgen_apply_bytes_applied_total", Counter, "Bytes (gzip) of the packets this process applied."),
        ("replgen_apply_errors_total", Counter, "Failed polls by kind of error (db, fetch, packet_mismatch, ...)."),
        ("replgen_apply_position_serial", Gauge, "The replica's position: the serial of the last packet (or export) it holds."),
        ("replgen_apply_position_created_timestamp_seconds", Gauge, "When the packet at the replica's position was cut (Unix time)."),
        ("replgen_apply_newest_serial", Gauge, "The newest packet the feed lists."),
        ("replgen_apply_packets_behind", Gauge, "Packets the feed lists after the replica's position."),
        ("replgen_apply_lag_seconds", Gauge, "How far behind the newest listed packet the replica is, by the packets' creation times (0 when caught up)."),
        ("replgen_apply_last_success_timestamp_seconds", Gauge, "When the last successful poll ended (Unix time)."),
        ("replgen_apply_duration_seconds", Histogram, "How long each successful poll took (index, downloads, apply)."),
        ("replgen_apply_packet_duration_seconds", Histogram, "How long each packet took to download and apply."),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_cumulative_histograms() {
        let m = Metrics::new(&[
            ("x_total", Kind::Counter, "Things."),
            ("x_errors_total", Kind::Counter, "Errors by kind."),
            ("x_seconds", Kind::Histogram, "Durations."),
        ]);
        m.add("x_total", &[], 2.0);
        m.add("x_errors_total", &[("kind", "a\"b")], 1.0);
        m.observe("x_seconds", 0.003);
        m.observe("x_seconds", 0.2);
        let text = m.render();
        assert!(
            text.contains("# TYPE x_total counter\nx_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("x_errors_total{kind=\"a\\\"b\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("x_errors_total 0"), "{text}");
        assert!(
            text.contains("x_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"0.25\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_count 2\n"), "{text}");
    }

    #[test]
    fn error_kinds_are_variant_names_in_snake_case() {
        assert_eq!(error_kind(&Error::NotInstalled), "not_installed");
        let e = Error::PacketMismatch {
            serial: 1,
            path: "p".into(),
            reason: "r".into(),
        };
        assert_eq!(error_kind(&e), "packet_mismatch");
    }
}

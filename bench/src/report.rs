//! BENCHMARKS.md: a header describing the machine and the run, then one table per section.

use std::fmt::Write;

use crate::Opts;

pub struct Row {
    pub what: String,
    pub value: String,
    pub baseline: String,
    /// Shown as `1.23×`; what it is a ratio of is said in the section's text.
    pub ratio: Option<f64>,
    pub goal: String,
    /// None: informational, no goal.
    pub met: Option<bool>,
    /// One of the figures the report's first table repeats (issue #16's list), so that they are
    /// all read from one run.
    pub headline: bool,
}

impl Row {
    pub fn new(
        what: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
    ) -> Row {
        Row {
            what: what.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio: None,
            goal: "—".into(),
            met: None,
            headline: false,
        }
    }

    /// Repeated in the report's first table.
    pub fn headline(mut self) -> Row {
        self.headline = true;
        self
    }

    pub fn ratio(mut self, r: f64) -> Row {
        self.ratio = Some(r);
        self
    }

    /// Goal: ratio at most `max`.
    pub fn at_most(mut self, max: f64) -> Row {
        self.goal = format!("≤ {max}×");
        self.met = self.ratio.map(|r| r <= max);
        self
    }

    /// Goal: ratio at least `min`.
    pub fn at_least(mut self, min: f64) -> Row {
        self.goal = format!("≥ {min}×");
        self.met = self.ratio.map(|r| r >= min);
        self
    }

    pub fn goal(mut self, goal: impl Into<String>, met: bool) -> Row {
        self.goal = goal.into();
        self.met = Some(met);
        self
    }
}

pub struct Section {
    pub title: String,
    /// Markdown paragraphs before the table (what is measured, what the ratio means).
    pub intro: Vec<String>,
    /// The column headers of "replgen" and "baseline" for this section.
    pub columns: (String, String),
    pub rows: Vec<Row>,
    /// Markdown paragraphs after the table (findings, breakdowns).
    pub notes: Vec<String>,
    /// Collapsed blocks: (summary, preformatted text).
    pub details: Vec<(String, String)>,
}

impl Section {
    pub fn new(title: &str, replgen: &str, baseline: &str) -> Section {
        Section {
            title: title.into(),
            intro: Vec::new(),
            columns: (replgen.into(), baseline.into()),
            rows: Vec::new(),
            notes: Vec::new(),
            details: Vec::new(),
        }
    }

    pub fn missed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.met == Some(false)).collect()
    }
}

pub struct Report {
    quick: bool,
    rows: u64,
    selected: Vec<String>,
    pub sections: Vec<Section>,
    pub total_seconds: f64,
}

impl Report {
    pub fn new(opts: &Opts, selected: &[&str]) -> Report {
        Report {
            quick: opts.quick,
            rows: opts.rows(),
            selected: selected.iter().map(|s| s.to_string()).collect(),
            sections: Vec::new(),
            total_seconds: 0.0,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# replgen benchmarks\n");
        let _ = writeln!(
            s,
            "Written by `cargo run --release -p replgen-bench --{} --out BENCHMARKS.md` (bench/src). \
             Every figure is measured in the same run as its baseline, on throwaway PostgreSQL clusters \
             started by the program. Ratios and goals are explained per section; \"no\" marks a missed goal.\n",
            if self.quick { " --quick" } else { "" }
        );
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| date (UTC) | {} |", utc_now());
        let _ = writeln!(
            s,
            "| mode | {} ({:.0} s in all) |",
            if self.quick { "quick" } else { "full" },
            self.total_seconds
        );
        let _ = writeln!(s, "| sections | {} |", self.selected.join(", "));
        let _ = writeln!(
            s,
            "| CPU | {} ({} cores, shared with other work) |",
            cpu_model(),
            cores()
        );
        let _ = writeln!(s, "| memory | {} |", mem_total());
        let _ = writeln!(s, "| PostgreSQL | {} |", pg_version());
        let _ = writeln!(
            s,
            "| server settings | testkit's: `fsync = off`, `synchronous_commit = off`, `full_page_writes = off`, \
             `shared_buffers = 256MB`, `max_wal_size = 4GB`; everything else default (`work_mem = 4MB`); \
             Unix socket; data in /tmp |"
        );
        let _ = writeln!(
            s,
            "| rows | narrow sections: {r} rows of bench/narrow's `artist` (10 columns, ~116 bytes of COPY text); \
             capture statements, dump, apply, export/import: {r} rows of `artist` (17 columns, ~190 bytes of COPY text); \
             memory: {small} and {r}-row packets; codecs: {c} rows |",
            r = crate::util::rows_label(self.rows),
            small = if self.quick { "2k" } else { "10k" },
            c = crate::util::rows_label(if self.quick { 100_000 } else { 1_000_000 }),
        );
        let _ = writeln!(s);
        self.headlines(&mut s);
        let missed: Vec<(&str, &Row)> = self
            .sections
            .iter()
            .flat_map(|sec| {
                sec.missed()
                    .into_iter()
                    .map(move |r| (sec.title.as_str(), r))
            })
            .collect();
        if missed.is_empty() {
            let _ = writeln!(s, "Every goal measured in this run is met.\n");
        } else {
            let _ = writeln!(s, "Goals missed in this run:\n");
            for (title, r) in missed {
                let shown = r
                    .ratio
                    .map(|x| format!("{x:.2}×"))
                    .unwrap_or_else(|| r.value.clone());
                let _ = writeln!(s, "- {title}: {}: {shown} (goal {})", r.what, r.goal);
            }
            let _ = writeln!(s);
        }
        for sec in &self.sections {
            let _ = writeln!(s, "## {}\n", sec.title);
            for p in &sec.intro {
                let _ = writeln!(s, "{p}\n");
            }
            let _ = writeln!(
                s,
                "| measurement | {} | {} | ratio | goal | met |",
                sec.columns.0, sec.columns.1
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
            for r in &sec.rows {
                let _ = writeln!(s, "| {} |", r.cells().join(" | "));
            }
            let _ = writeln!(s);
            for p in &sec.notes {
                let _ = writeln!(s, "{p}\n");
            }
            for (summary, text) in &sec.details {
                let _ = writeln!(
                    s,
                    "<details><summary>{summary}</summary>\n\n```\n{}\n```\n</details>\n",
                    text.trim_end()
                );
            }
        }
        s
    }
}

impl Report {
    /// The headline figures, all from this run, each with its baseline, goal and section.
    fn headlines(&self, s: &mut String) {
        let rows: Vec<(&str, &Row)> = self
            .sections
            .iter()
            .flat_map(|sec| {
                let number = sec
                    .title
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('.');
                sec.rows
                    .iter()
                    .filter(|r| r.headline)
                    .map(move |r| (number, r))
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "The headline figures of this run (issue #16's list); the section named in the first column gives \
             each one's method and breakdown.\n"
        );
        let _ = writeln!(
            s,
            "| § | figure | replgen | baseline | ratio | goal | met |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---|---|");
        for (number, r) in rows {
            let _ = writeln!(s, "| {number} | {} |", r.cells().join(" | "));
        }
        let _ = writeln!(s);
    }
}

impl Row {
    /// The row's cells after its section's: what, replgen, baseline, ratio, goal, met.
    fn cells(&self) -> [String; 6] {
        let ratio = self
            .ratio
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "—".into());
        let met = match self.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        [
            self.what.clone(),
            self.value.clone(),
            self.baseline.clone(),
            ratio,
            self.goal.clone(),
            met.into(),
        ]
    }
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into())
}

fn pg_version() -> String {
    std::process::Command::new(replgen_testkit::pg_program("postgres"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

//! replgen's benchmarks: capture overhead, dump, apply, export/import, memory, lag and codecs,
//! each against a baseline measured in the same run on throwaway clusters, written as markdown.
//!
//! `cargo run --release -p replgen-bench -- [--quick] [--only SECTION] [--out BENCHMARKS.md]`
//!
//! Timings are never asserted (a slow or shared machine only makes the figures worse); the
//! program fails only on real errors (a command or statement that fails).

mod capture;
mod catchup;
mod codecs;
mod feed;
mod mb;
// The 293-table shape's generated module (bench/mb), for its table definitions.
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../mb/replicated.rs"]
mod mb_replicated;
mod narrow;
// The narrow shape's generated module (bench/narrow), for its table definition.
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../narrow/replicated.rs"]
mod narrow_replicated;
mod report;
mod shapes;
mod upgrade;
mod util;

use std::time::Instant;

use report::{Report, Section};

pub const SECTIONS: &[&str] = &[
    "narrow-dump",
    "narrow-capture",
    "capture",
    "dump",
    "apply",
    "export",
    "memory",
    "lag",
    "codecs",
    "upgrade",
    "catchup",
    "mb",
];

#[derive(Debug, Clone)]
pub struct Opts {
    pub quick: bool,
}

impl Opts {
    /// Rows of the big statements and packets.
    pub fn rows(&self) -> u64 {
        if self.quick {
            20_000
        } else {
            1_000_000
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: replgen-bench [--quick] [--only SECTION[,SECTION...]] [--out FILE]\n  sections: {}",
        SECTIONS.join(", ")
    );
    std::process::exit(2);
}

fn main() {
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let list: Vec<String> = args
                    .next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(str::to_string)
                    .collect();
                for s in &list {
                    if !SECTIONS.contains(&s.as_str()) {
                        eprintln!("unknown section `{s}`");
                        usage();
                    }
                }
                only = Some(list);
            }
            "--out" => out = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument `{other}`");
                usage();
            }
        }
    }
    let opts = Opts { quick };
    let selected: Vec<&str> = SECTIONS
        .iter()
        .copied()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s)))
        .collect();
    let started = Instant::now();
    let mut report = Report::new(&opts, &selected);
    for name in &selected {
        let t = Instant::now();
        eprintln!("== {name}");
        let section: Section = match *name {
            "narrow-dump" => narrow::dump(&opts),
            "narrow-capture" => narrow::capture(&opts),
            "capture" => capture::run(&opts),
            "dump" => feed::dump(&opts),
            "apply" => feed::apply(&opts),
            "export" => feed::export_import(&opts),
            "memory" => feed::memory(&opts),
            "lag" => feed::lag(&opts),
            "codecs" => codecs::run(&opts),
            "upgrade" => upgrade::run_section(&opts),
            "catchup" => catchup::run(&opts),
            "mb" => mb::run(&opts),
            _ => unreachable!(),
        };
        eprintln!("== {name} done in {:.0} s", t.elapsed().as_secs_f64());
        report.sections.push(section);
        // Written after every section, so a long run that fails late keeps what it measured.
        if let Some(path) = &out {
            report.total_seconds = started.elapsed().as_secs_f64();
            std::fs::write(path, report.to_markdown())
                .unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
    }
    report.total_seconds = started.elapsed().as_secs_f64();
    let text = report.to_markdown();
    match &out {
        Some(path) => {
            std::fs::write(path, &text).unwrap_or_else(|e| panic!("write {path}: {e}"));
            eprintln!("wrote {path} in {:.0} s", report.total_seconds);
        }
        None => print!("{text}"),
    }
}

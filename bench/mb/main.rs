//! A mirror binary generated from bench/mb/schema.yaml: the benchmarks' 293-table shape.
// Generated and formatted by replgen (`replgen check` compares it byte for byte).
#[rustfmt::skip]
mod replicated;

fn main() -> std::process::ExitCode {
    replgen_runtime::cli::main(&replicated::SCHEMA)
}

//! A mirror binary generated from bench/narrow/schema.yaml: the benchmarks' narrow shape.
// Generated and formatted by replgen (`replgen check` compares it byte for byte).
#[rustfmt::skip]
mod replicated;

fn main() -> std::process::ExitCode {
    replgen_runtime::cli::main(&replicated::SCHEMA)
}

//! A mirror binary generated from tests/evolve/v1/schema.yaml (the schema-change test's
//! version 1, with every earlier layout of its history).
// Generated and formatted by replgen (`replgen check` compares it byte for byte).
#[rustfmt::skip]
mod replicated;

fn main() -> std::process::ExitCode {
    replgen_runtime::cli::main(&replicated::SCHEMA)
}

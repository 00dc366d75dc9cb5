//! A mirror binary generated from tests/evolve/v1/schema.yaml (the schema-change test's
//! version 1, with every earlier layout of its history).
mod replicated;

fn main() -> std::process::ExitCode {
    replgen_runtime::cli::main(&replicated::SCHEMA)
}

//! The example mirror: the module `replgen generate` wrote from this repository's schema.yaml,
//! plus one call into the runtime. This is all a user's own mirror binary needs.

// Generated and formatted by replgen (`replgen check` compares it byte for byte).
#[rustfmt::skip]
mod replicated;

fn main() -> std::process::ExitCode {
    replgen_runtime::cli::main(&replicated::SCHEMA)
}

//! `replgen`: generate capture migrations and the Rust module from schema.yaml, check that the
//! committed outputs are current, or introspect a live database into a schema.yaml.
//!
//! Exit codes: 0 success, 1 the operation failed or found a difference, 2 bad usage or invalid input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use replgen::introspect::{self, IntrospectError};
use replgen::Paths;
use replgen_schema::MigrationStyle;

#[derive(Parser)]
#[command(
    name = "replgen",
    version,
    about = "Change-capture migrations and typed Rust code from schema.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the install/uninstall migrations and the Rust module (only files whose bytes change).
    Generate(OutArgs),
    /// Regenerate in memory and compare with the files on disk; exit 1 with a diff when they differ.
    Check(OutArgs),
    /// Print schema.yaml for the tables of a live database.
    Introspect(IntrospectArgs),
}

#[derive(Args)]
struct OutArgs {
    /// The schema file.
    #[arg(long, default_value = "schema.yaml")]
    schema: PathBuf,
    /// The folder for the migrations.
    #[arg(long, default_value = "migrations")]
    sql_out: PathBuf,
    /// The generated Rust module.
    #[arg(long, default_value = "src/replicated.rs")]
    rust_out: PathBuf,
    /// Name the install migration for this tool: refinery (`V<n>__replgen_capture.sql`) or sqlx
    /// (`<n>_replgen_capture.sql`). Overrides `migrations: { style }` in schema.yaml.
    #[arg(long, value_parser = ["refinery", "sqlx"])]
    migration_style: Option<String>,
    /// The current version's migration number (default: schema_version), e.g. a timestamp so that
    /// it sorts after the application's own migrations. Overrides `migrations: { number }`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    migration_number: Option<u64>,
}

#[derive(Args)]
struct IntrospectArgs {
    /// The database: a libpq connection string or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL")]
    db: String,
    /// Only these tables (comma-separated, `name` or `schema.name`); default: every table with a primary key.
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    /// The schema_version to write.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64), conflicts_with = "merge")]
    schema_version: u32,
    /// Merge with this existing schema.yaml: its tables keep their ids and chosen columns, new
    /// tables get fresh ids, schema_version, `migrations:` and `retired_ids:` are kept.
    #[arg(long, value_name = "SCHEMA_YAML")]
    merge: Option<PathBuf>,
    /// With --merge: also add the columns of the spec's tables that the spec does not list.
    #[arg(long, requires = "merge")]
    add_columns: bool,
}

fn build(args: &OutArgs) -> Result<std::collections::BTreeMap<PathBuf, Vec<u8>>, ExitCode> {
    let mut schema = replgen_schema::load(&args.schema).map_err(|e| {
        eprintln!("{e}");
        let n = e.0.len();
        eprintln!(
            "replgen: {} is invalid ({n} problem{}); nothing was written.",
            args.schema.display(),
            if n == 1 { "" } else { "s" }
        );
        ExitCode::from(2)
    })?;
    if let Some(style) = &args.migration_style {
        schema.migrations.style = MigrationStyle::parse(style).expect("clap checked the style");
    }
    if let Some(n) = args.migration_number {
        schema.migrations.number = Some(n);
    }
    let paths = Paths {
        schema: args.schema.clone(),
        sql_out: args.sql_out.clone(),
        rust_out: args.rust_out.clone(),
    };
    replgen::generate(&schema, &paths).map_err(|e| {
        let code = e.exit_code();
        if code == 2 {
            eprintln!("replgen: {e}; nothing was written.");
        } else {
            eprintln!("replgen: generating the outputs failed: {e}");
        }
        ExitCode::from(code)
    })
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(args) => {
            let files = match build(&args) {
                Ok(f) => f,
                Err(code) => return code,
            };
            match replgen::write_outputs(&files) {
                Ok(written) => {
                    for p in &written {
                        eprintln!("wrote {}", p.display());
                        if p.to_string_lossy()
                            .ends_with("_replgen_capture_revision.sql")
                        {
                            eprintln!(
                                "  a capture revision: this replgen's capture for a schema_version \
                                 already published, as a migration of its own (the published one \
                                 is never rewritten); commit it and run it on the master like any \
                                 migration, or with `mirror install`; pending changes are kept"
                            );
                        }
                    }
                    if written.is_empty() {
                        eprintln!("all {} outputs are up to date", files.len());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("replgen: writing the outputs failed: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check(args) => {
            let files = match build(&args) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let diffs = replgen::check_outputs(&files);
            if diffs.is_empty() {
                eprintln!("all {} generated files are current", files.len());
                return ExitCode::SUCCESS;
            }
            for d in &diffs {
                print!("{d}");
            }
            eprintln!(
                "replgen: {} generated file{} out of date; run `replgen generate` and commit the result.",
                diffs.len(),
                if diffs.len() == 1 { " is" } else { "s are" }
            );
            ExitCode::from(1)
        }
        Command::Introspect(args) if args.merge.is_some() => merge(&args),
        Command::Introspect(args) => match introspect::read_tables(&args.db, &args.tables) {
            Ok((tables, warnings)) => {
                for w in warnings {
                    eprintln!("replgen: warning: {w}");
                }
                if tables.is_empty() {
                    eprintln!(
                        "replgen: the database has no table with a primary key to replicate."
                    );
                    return ExitCode::from(1);
                }
                let types = match introspect::read_enums(&args.db, &tables) {
                    Ok(types) => types,
                    Err(IntrospectError::Database(e) | IntrospectError::Invalid(e)) => {
                        eprintln!("replgen: {e}");
                        return ExitCode::from(1);
                    }
                };
                print!(
                    "{}",
                    introspect::render_yaml(&tables, &types, args.schema_version)
                );
                ExitCode::SUCCESS
            }
            Err(IntrospectError::Database(e)) => {
                eprintln!("replgen: {e}");
                ExitCode::from(1)
            }
            Err(IntrospectError::Invalid(e)) => {
                eprintln!("replgen: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// `introspect --merge`: the spec's tables re-read from the database, new tables added.
fn merge(args: &IntrospectArgs) -> ExitCode {
    let path = args.merge.as_ref().expect("merge mode");
    let spec = match replgen_schema::load(path) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "replgen: {} is invalid; nothing was merged.",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    let (tables, mut warnings) = match introspect::read_tables(&args.db, &[]) {
        Ok(read) => read,
        Err(IntrospectError::Database(e)) => {
            eprintln!("replgen: {e}");
            return ExitCode::from(1);
        }
        Err(IntrospectError::Invalid(e)) => {
            eprintln!("replgen: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = replgen::merge::MergeOptions {
        add_columns: args.add_columns,
        only: args.tables.clone(),
    };
    let types = match introspect::read_enums(&args.db, &tables) {
        Ok(types) => types,
        Err(IntrospectError::Database(e) | IntrospectError::Invalid(e)) => {
            eprintln!("replgen: {e}");
            return ExitCode::from(1);
        }
    };
    let merged = match replgen::merge::merge(&spec, &tables, &types, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("replgen: {e}");
            return ExitCode::from(2);
        }
    };
    warnings.extend(merged.warnings);
    // A changed layout needs a new schema_version before `generate` accepts it.
    match replgen_schema::parse_str(&merged.yaml, "the merged schema") {
        Ok(new) if new.fingerprint() != spec.fingerprint() => warnings.push(format!(
            "the merged layout differs from {}'s: bump schema_version before `replgen generate`",
            path.display()
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!("the merged schema is not valid yet: {e}")),
    }
    for w in warnings {
        eprintln!("replgen: warning: {w}");
    }
    print!("{}", merged.yaml);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    run(Cli::parse())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The path of every command and argument that has no help text.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        let path = format!("{path} {}", cmd.get_name());
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                out.push(format!("{path} {}", sub.get_name()));
            }
            undocumented(sub, &path, out);
        }
    }

    #[test]
    fn every_command_and_flag_has_help() {
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        undocumented(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}

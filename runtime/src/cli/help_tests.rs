//! Every command and every flag of the mirror binary says what it is for in `--help`.

use clap::CommandFactory;

use super::Cli;

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
    let mut cmd = Cli::command();
    // Builds the generated arguments (--help, --version) as the real parse does.
    cmd.build();
    let mut missing = Vec::new();
    undocumented(&cmd, "", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:?}");
}

#[test]
fn the_walk_sees_a_flag_without_help() {
    let cmd = clap::Command::new("t").arg(clap::Arg::new("bare").long("bare"));
    let mut missing = Vec::new();
    undocumented(&cmd, "", &mut missing);
    assert_eq!(missing, [" t --bare"]);
}

//! Subcommands and their options.

mod check;
mod checkpoint_args;
mod checkpoints;
mod common;
mod demo;
mod generate;
mod normalize;
mod replay;
mod run;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// vigil: correlate security events at scale, deterministically.
///
/// vigil reads security logs (sshd/auth syslog, web access logs, Zeek, Windows and other JSON),
/// normalizes them to ECS field names, and processes them in event time on a timely-dataflow
/// cluster.
///
/// Start here:
///   vigil demo                      attacks injected in generated logs, default rules, incidents
///   vigil generate --events 100000 | vigil normalize --year 2024 -
///   vigil normalize /var/log/auth.log access.log conn.log > events.json
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr (no progress bar, no summary).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::DemoArgs),
    Normalize(normalize::NormalizeArgs),
    Generate(generate::GenerateArgs),
    Replay(replay::ReplayArgs),
    Run(run::RunArgs),
    Check(check::CheckArgs),
    Checkpoints(checkpoints::CheckpointsArgs),
}

/// Sets up `tracing` to stderr.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "vigil=debug,warn",
        _ => "vigil=trace,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_target(false).try_init();
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args, cli.quiet),
        Command::Normalize(args) => normalize::run(args, cli.quiet),
        Command::Generate(args) => generate::run(args, cli.quiet),
        Command::Check(args) => check::run(args, cli.quiet),
        Command::Replay(args) => replay::run(args, cli.quiet),
        Command::Run(args) => run::run(args, cli.quiet),
        Command::Checkpoints(args) => checkpoints::run(args),
    }
}

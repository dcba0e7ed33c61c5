//! `vigil check`: validate rule files without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use vigil::rules::{CompileOptions, RuleSet};

/// Validate Sigma rule files (detection and correlation rules) without running them.
///
/// Every problem is reported as `file:line: field.path: message`, all of them at once, not just
/// the first. The exit status is 0 when everything compiles (warnings allowed), 1 otherwise.
///
/// Examples:
///   vigil check topologies/rules
///   vigil check ../sigma/rules ../sigma/rules-threat-hunting my-rule.yml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CheckArgs {
    /// Rule files, or folders searched recursively for *.yml and *.yaml.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
}

/// Runs the subcommand.
pub fn run(args: CheckArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    match RuleSet::load(&args.paths, &CompileOptions::default()) {
        Ok(set) => {
            for w in &set.warnings {
                eprintln!("warning: {w}");
            }
            if !quiet {
                eprintln!(
                    "vigil check: {} detection rule(s), {} correlation rule(s): OK{}",
                    set.rules.len(),
                    set.correlations.len(),
                    if set.warnings.is_empty() { String::new() } else { format!(" with {} warning(s)", set.warnings.len()) }
                );
            }
            Ok(if args.strict && !set.warnings.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("vigil check: {} error(s)", errors.len());
            Ok(ExitCode::from(1))
        }
    }
}

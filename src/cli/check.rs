//! `vigil check`: validate rule files and topologies without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use vigil::rules::{rule_files, CompileOptions, RuleError, RuleSet};
use vigil::topology::{looks_like_topology, Topology};

/// Validate Sigma rule files (detection and correlation rules) and vigil topologies without
/// running them.
///
/// Every problem is reported as `file:line: field.path: message`, all of them at once, not just
/// the first. A topology is checked with its own rules and `expand` placeholder values; files in
/// a folder are told apart by content (a topology has `sources:`). The exit status is 0 when
/// everything compiles (warnings allowed), 1 otherwise.
///
/// Examples:
///   vigil check topologies/rules
///   vigil check topologies/default.yaml           # the topology and the rules it names
///   vigil check topologies                        # every topology and rule file below it
///   vigil check ../sigma/rules ../sigma/rules-threat-hunting my-rule.yml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CheckArgs {
    /// Rule or topology files, or folders searched recursively for *.yml and *.yaml.
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
    let (files, mut errors) = rule_files(&args.paths);
    let (topologies, rule_files): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|f| std::fs::read_to_string(f).is_ok_and(|text| looks_like_topology(&text)));
    let mut warnings: Vec<RuleError> = Vec::new();
    let mut summary = Vec::new();
    for path in &topologies {
        match Topology::load(path).and_then(|t| t.load_rules(&[]).map(|r| (t, r))) {
            Ok((t, r)) => {
                summary.push(format!(
                    "topology {} ({:?}): {} source(s), {} detection and {} correlation rule(s)",
                    path.display(),
                    t.name,
                    t.sources.len(),
                    r.rules.len(),
                    r.correlations.len()
                ));
                warnings.extend(r.warnings);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !rule_files.is_empty() || topologies.is_empty() {
        match RuleSet::load_files(&rule_files, Vec::new(), &CompileOptions::default()) {
            Ok(set) => {
                let (texts, always, never) = set.index().counts();
                summary.push(format!(
                    "{} detection rule(s), {} correlation rule(s); rule index: {texts} run only on events holding one of their {} texts, {always} on every event, {never} never",
                    set.rules.len(),
                    set.correlations.len(),
                    set.index().texts()
                ));
                warnings.extend(set.warnings);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    // A rule shared by a topology and a rule folder would warn twice.
    warnings.sort_by(|a, b| (&a.file, a.line, &a.field_path, &a.message).cmp(&(&b.file, b.line, &b.field_path, &b.message)));
    warnings.dedup();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!("vigil check: {} error(s)", errors.len());
        return Ok(ExitCode::from(1));
    }
    if !quiet {
        let with = if warnings.is_empty() { String::new() } else { format!(" with {} warning(s)", warnings.len()) };
        eprintln!("vigil check: {}: OK{with}", summary.join("; "));
    }
    Ok(if args.strict && !warnings.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

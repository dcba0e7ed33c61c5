//! The `vigil` command line. Logs go to stderr; data goes to stdout only when asked.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The hot path allocates a few small buffers per event on one thread and frees them on
// another; mimalloc handles that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.quiet);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

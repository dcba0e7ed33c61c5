//! The `vigil` command line. Logs go to stderr; data goes to stdout only when asked.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The hot path allocates a few small buffers per event on one worker and often frees them on
// another. jemalloc recycles that memory without giving pages back to the kernel between
// batches (the system allocator and mimalloc's defaults spent a fifth of the time re-faulting
// zeroed pages), and keeps peak memory lower.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

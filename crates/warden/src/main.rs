//! `warden`: runs the server (`warden serve`) and is the command-line client of its API.

mod cli;
mod client;
mod commands;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: the gateway allocates and frees on every
/// request from every worker thread, and glibc's malloc spends a tenth of the gateway's CPU
/// there under load, part of it waiting on its arena locks (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::from(client::EXIT_UNAVAILABLE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(status) => ExitCode::from(status),
        Err(failure) => {
            output::error(&failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}

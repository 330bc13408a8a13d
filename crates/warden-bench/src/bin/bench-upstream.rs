//! `bench-upstream`: the upstream behind the load and kill-switch benchmarks. An HTTP/1.1
//! server that answers every request, whatever its method and path, with the same small
//! body, optionally after a fixed delay that stands for the work of a real API.
//!
//! It prints its bound address (`127.0.0.1:PORT`) as the first line on standard output,
//! so a script can start it on port 0 and read where it listens.

// A reporting tool: printing the bound address is its interface with the script.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A fixed-body HTTP upstream for Warden's benchmarks")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Milliseconds to wait before answering, standing for the upstream's own work.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Worker threads; the number of cores by default.
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime
        .build()
        .context("cannot start the runtime")?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr().context("no local address")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{bound}").context("cannot print the bound address")?;
    stdout.flush().context("cannot print the bound address")?;

    let delay = Duration::from_millis(args.delay_ms);
    let app = Router::new().fallback(move || answer(delay));
    axum::serve(listener, app)
        .await
        .context("the server stopped")
}

async fn answer(delay: Duration) -> impl IntoResponse {
    if !delay.is_zero() {
        // tokio's timer ticks in whole milliseconds and rounds up, so a 1 ms sleep there
        // lasts up to 2 ms; a thread's sleep is accurate to tens of microseconds.
        let slept = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
        if slept.is_err() {
            tokio::time::sleep(delay).await;
        }
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        warden_bench::BODY,
    )
}

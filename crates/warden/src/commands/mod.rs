//! One module per noun; `run` sends each command to its module.

mod approvals;
mod audit;
mod credential;
mod findings;
mod graph;
mod identity;
mod import;
mod leaks;
mod owner;
mod policy;
mod scan;
mod serve;
mod signals;
mod upstream;

pub use scan::parse_size;

use crate::cli::{Cli, Command, Global, KeysCommand};
use crate::client::{Client, Failure};

/// Runs the command; `Ok` carries the exit status (0, or 1 for a scan that found secrets).
pub async fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Scan(args) => scan::run(args, &cli.global).await,
        command => run_api(cli.global, command).await.map(|()| 0),
    }
}

/// The commands that talk to the API (and `serve`, which is the API).
async fn run_api(global: Global, command: Command) -> Result<(), Failure> {
    if let Command::Graph(command) = command {
        let client = Client::new(&global.addr, global.token)?;
        return graph::run(&client, global.output, command).await;
    }
    let format = global.output.format().ok_or_else(|| {
        Failure::refused("-o dot draws `warden graph agent`; give -o text or -o json")
    })?;
    match command {
        // Handled above, with the output choices of its own.
        Command::Graph(_) => Ok(()),
        Command::Serve(args) => serve::run(args).await,
        Command::Owner(command) => {
            let client = Client::new(&global.addr, global.token)?;
            owner::run(&client, format, command).await
        }
        Command::Agent(command) => {
            let client = Client::new(&global.addr, global.token)?;
            identity::run_agent(&client, format, command).await
        }
        Command::Upstream(command) => {
            let client = Client::new(&global.addr, global.token)?;
            upstream::run(&client, format, command).await
        }
        Command::Policy(command) => {
            let client = Client::new(&global.addr, global.token)?;
            policy::run(&client, format, command).await
        }
        Command::Audit(command) => audit::run(&global, format, command).await,
        Command::Identity(command) => {
            let client = Client::new(&global.addr, global.token)?;
            identity::run_identity(&client, format, command).await
        }
        Command::Credential(command) => {
            let client = Client::new(&global.addr, global.token)?;
            credential::run(&client, format, command).await
        }
        Command::Kill(args) => {
            let client = Client::new(&global.addr, global.token)?;
            credential::stop(&client, format, "kill", args).await
        }
        Command::Restore(args) => {
            let client = Client::new(&global.addr, global.token)?;
            credential::stop(&client, format, "restore", args).await
        }
        Command::Revoke(args) => {
            let client = Client::new(&global.addr, global.token)?;
            credential::stop(&client, format, "revoke", args).await
        }
        Command::Keys(KeysCommand::RotateDataKey(args)) => {
            serve::rotate_data_key(args, format).await
        }
        Command::Keys(command) => {
            let client = Client::new(&global.addr, global.token)?;
            credential::keys(&client, format, command).await
        }
        Command::Approvals(command) => {
            let client = Client::new(&global.addr, global.token)?;
            approvals::run(&client, format, command).await
        }
        Command::Import(args) => {
            let client = Client::new(&global.addr, global.token)?;
            import::run(&client, format, args).await
        }
        Command::Inventory(command) => {
            let client = Client::new(&global.addr, global.token)?;
            import::inventory(&client, format, command).await
        }
        Command::Findings(command) => {
            let client = Client::new(&global.addr, global.token)?;
            findings::run(&client, format, command).await
        }
        Command::Leaks(command) => {
            let client = Client::new(&global.addr, global.token)?;
            leaks::run(&client, format, command).await
        }
        Command::Webhook(command) => {
            let client = Client::new(&global.addr, global.token)?;
            signals::webhook(&client, format, command).await
        }
        Command::Ssf(command) => {
            let client = Client::new(&global.addr, global.token)?;
            signals::ssf(&client, format, command).await
        }
        Command::Posture(args) => {
            let client = Client::new(&global.addr, global.token)?;
            findings::posture(&client, format, args).await
        }
        // Sent here only if `run` stops handling it first.
        Command::Scan(args) => scan::run(args, &global).await.map(|_| ()),
    }
}

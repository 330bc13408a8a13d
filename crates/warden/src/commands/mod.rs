//! One module per noun; `run` sends each command to its module.

mod approvals;
mod audit;
mod credential;
mod identity;
mod owner;
mod policy;
mod serve;
mod upstream;

use crate::cli::{Cli, Command, KeysCommand};
use crate::client::{Client, Failure};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let format = cli.global.output;
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Owner(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            owner::run(&client, format, command).await
        }
        Command::Agent(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            identity::run_agent(&client, format, command).await
        }
        Command::Upstream(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            upstream::run(&client, format, command).await
        }
        Command::Policy(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            policy::run(&client, format, command).await
        }
        Command::Audit(command) => audit::run(&cli.global, format, command).await,
        Command::Identity(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            identity::run_identity(&client, format, command).await
        }
        Command::Credential(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            credential::run(&client, format, command).await
        }
        Command::Kill(args) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            credential::stop(&client, format, "kill", args).await
        }
        Command::Restore(args) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            credential::stop(&client, format, "restore", args).await
        }
        Command::Revoke(args) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            credential::stop(&client, format, "revoke", args).await
        }
        Command::Keys(KeysCommand::RotateDataKey(args)) => {
            serve::rotate_data_key(args, format).await
        }
        Command::Keys(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            credential::keys(&client, format, command).await
        }
        Command::Approvals(command) => {
            let client = Client::new(&cli.global.addr, cli.global.token)?;
            approvals::run(&client, format, command).await
        }
    }
}

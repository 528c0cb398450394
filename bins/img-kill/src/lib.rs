//! img-kill: send a signal to running containers (`docker kill`).

use clap::{CommandFactory, Parser};

use img_cli::{Common, Exit};
use img_container::control;

/// Kill one or more running containers.
///
/// Sends each CONTAINER's first process a signal (-s: a name such as TERM
/// or SIGHUP, or a number; SIGKILL by default) through the runtime, as
/// `docker kill` does, and prints its name as given. Signalling a
/// container that is not running is an error (`container … is not
/// running`).
///
/// Exit status: 0 when every container was signalled; 1 otherwise; 2 for
/// an unknown signal.
#[derive(Debug, Parser)]
#[command(
    name = "img-kill",
    version,
    about = "Kill running containers (docker kill)"
)]
#[command(after_help = "EXAMPLES:\n  img-kill web\n  img-kill -s HUP web")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// The signal to send
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    pub signal: String,
    /// The containers: names, IDs or ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Signal the containers.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    control::signal_name(&cli.signal)?;
    let store = cli.common.store()?;
    let mut failed = false;
    for query in &cli.containers {
        let killed = img_container::Containers::of(&store)
            .find(query)
            .and_then(|c| control::kill(&store, &c, query, &cli.signal));
        match killed {
            Ok(()) => println!("{query}"),
            Err(e) => {
                img_cli::print_error("img-kill", &e.into());
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

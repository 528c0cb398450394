//! img-stop: stop running containers (`docker stop`).

use std::time::Duration;

use clap::{CommandFactory, Parser};

use img_cli::{Common, Exit};
use img_container::control;

/// Stop one or more running containers.
///
/// Sends each CONTAINER's first process its stop signal (the image's
/// STOPSIGNAL, else SIGTERM) and, when it has not ended after -t seconds,
/// SIGKILL, as `docker stop` does; waits until the container has ended
/// and its end is recorded (its published ports are free again), then
/// prints its name as given. A container that is not running is left as
/// it is and printed too, as Docker does.
///
/// Exit status: 0 when every container stopped; 1 otherwise (an unknown
/// container: `No such container`), each failure reported.
#[derive(Debug, Parser)]
#[command(
    name = "img-stop",
    version,
    about = "Stop running containers (docker stop)"
)]
#[command(after_help = "EXAMPLES:\n  img-stop web\n  img-stop -t 0 $(img-ps -q)")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    pub time: u64,
    /// The containers: names, IDs or ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Stop the containers.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let store = cli.common.store()?;
    let mut failed = false;
    for query in &cli.containers {
        let stopped = img_container::Containers::of(&store)
            .find(query)
            .and_then(|c| control::stop(&store, &c, Duration::from_secs(cli.time)));
        match stopped {
            Ok(()) => println!("{query}"),
            Err(e) => {
                img_cli::print_error("img-stop", &e.into());
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

//! img-logs: a detached container's output (`docker logs`).

use clap::{CommandFactory, Parser};

use img_cli::Common;
use img_container::control::{self, LogOptions};

/// Show a container's output.
///
/// Prints what a container wrote (in the background after `img-run -d`
/// or `img-start`, or in the foreground), as `docker logs` does: its stdout to stdout, its
/// stderr to stderr, oldest first. The output is kept in Docker's
/// json-file format in the container's directory, at most 10 MB and one
/// older file of as much. -f keeps printing until the container stops;
/// --tail N prints only the last N lines; -t puts each line's time (RFC
/// 3339 with nanoseconds) before it.
#[derive(Debug, Parser)]
#[command(
    name = "img-logs",
    version,
    about = "Show a container's output (docker logs)"
)]
#[command(after_help = "EXAMPLES:\n  img-logs web\n  img-logs -f --tail 10 web")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Keep printing until the container stops
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Show each line's time
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container: a name, ID or ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Print the log.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let tail = match cli.tail.as_str() {
        "all" => None,
        n => Some(n.parse::<usize>().map_err(|_| {
            img_core::error::Error::invalid(format!("invalid --tail {n:?}: give a number or all"))
        })?),
    };
    let options = LogOptions {
        follow: cli.follow,
        tail,
        timestamps: cli.timestamps,
    };
    let store = cli.common.store()?;
    let container = img_container::Containers::of(&store).find(&cli.container)?;
    control::logs(
        &store,
        &container,
        &options,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )?;
    Ok(())
}

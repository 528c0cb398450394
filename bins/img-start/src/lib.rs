//! img-start: start created or stopped containers (`docker start`).

use clap::{CommandFactory, Parser};

use img_cli::{Common, Exit};
use img_container::control;
use img_container::monitor::StartError;

/// Start one or more created or stopped containers.
///
/// Starts each CONTAINER (a name, ID or ID prefix) in the background, under
/// a monitor that keeps its output in its log (`img-logs`), as `docker
/// start` does, with the configuration it was made with; prints each name
/// as given. A running container is left as it is. With -a, img-start
/// prints the container's output (one container) until it ends and exits
/// with its status.
///
/// Exit status: 0 when every container started, 1 otherwise (each failure
/// is reported); with -a, the container's status, or 125/126/127 as
/// img-run.
#[derive(Debug, Parser)]
#[command(
    name = "img-start",
    version,
    about = "Start stopped containers (docker start)"
)]
#[command(after_help = "EXAMPLES:\n  img-start web\n  img-start -a $(img-create busybox echo hi)")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Print the container's output until it ends; exit with its status
    #[arg(short, long)]
    pub attach: bool,
    /// The containers: names, IDs or ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Start the containers.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.attach && cli.containers.len() > 1 {
        anyhow::bail!("-a attaches to one container only");
    }
    let store = cli.common.store()?;
    let mut failed = false;
    for query in &cli.containers {
        let started = img_container::Containers::of(&store)
            .find(query)
            .map_err(StartError::Img)
            .and_then(|c| control::start(&store, &c).map(|_| c));
        match started {
            Ok(container) if cli.attach => {
                let options = control::LogOptions {
                    follow: true,
                    ..control::LogOptions::default()
                };
                control::logs(
                    &store,
                    &container,
                    &options,
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                )?;
                let code = control::exit_status(&store, &container)?;
                return Err(Exit(code).into());
            }
            Ok(_) => println!("{query}"),
            Err(StartError::Command { code, message }) => {
                eprintln!("img-start: error: {message}");
                if cli.attach {
                    return Err(Exit(code).into());
                }
                failed = true;
            }
            Err(StartError::Img(e)) => {
                img_cli::print_error("img-start", &e.into());
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

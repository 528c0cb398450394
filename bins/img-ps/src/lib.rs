//! img-ps: list containers (`docker ps`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_core::template::RowFormat;
use img_ops::ps::{self as table, View};

/// List containers.
///
/// Prints the store's containers as `docker ps` does: CONTAINER ID, IMAGE,
/// COMMAND, CREATED, STATUS (`Up 2 minutes`, `Exited (0) 5 seconds ago`,
/// `Created`), PORTS (`0.0.0.0:8080->80/tcp` while it runs), NAMES, newest
/// first. Only running containers unless -a. A container runs while the
/// program that owns it lives: its img-run, or the monitor of a detached
/// one (`img-run -d`, `img-start`).
///
/// Filters (`--filter KEY=VALUE`, all must match, several of one key are
/// alternatives): `id=` (ID prefix), `name=` (part of the name),
/// `status=created|running|exited`, `ancestor=` (the image as named),
/// `exited=CODE`. `--format` takes a Go template (fields .ID .Image .Command
/// .CreatedAt .RunningFor .Ports .State .Status .Names), `table TEMPLATE`, or
/// `json`. `img-ls --containers` is `img-ps -a`, kept for older scripts.
#[derive(Debug, Parser)]
#[command(name = "img-ps", version, about = "List containers (docker ps)")]
#[command(
    after_help = "EXAMPLES:\n  img-ps\n  img-ps -a\n  img-ps -aq --filter status=exited\n  img-ps --format '{{.Names}} {{.Ports}}'"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Show all containers (default: running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: id=, name=, status=, ancestor=, exited=
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format the rows with a Go template, 'table TEMPLATE', or 'json'
    #[arg(long, value_name = "FORMAT", conflicts_with = "quiet")]
    pub format: Option<String>,
    /// Do not truncate IDs and commands
    #[arg(long)]
    pub no_trunc: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// List the containers.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let view = View {
        all: cli.all,
        quiet: cli.quiet,
        no_trunc: cli.no_trunc,
        filters: table::parse_filters(&cli.filter)?,
        format: RowFormat::parse(cli.format.as_deref(), table::FIELDS)?,
    };
    let store = cli.common.store()?;
    let mut out = cli::stdout();
    out.write_all(table::list(&store, &view)?.as_bytes())?;
    out.flush()?;
    Ok(())
}

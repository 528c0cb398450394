//! img-exec: run a command in a running container (`docker exec`).

use clap::{CommandFactory, Parser};

use img_cli::{Common, Exit};
use img_container::exec::{self, Options};

/// Run a command in a running container.
///
/// Runs COMMAND in CONTAINER's namespaces, as `docker exec` does, with
/// the container's environment (and -e on top), working directory (-w)
/// and user (-u, a name resolved against the container's /etc/passwd, or
/// UID[:GID]); stdin is passed on with -i, a terminal given with -t. The
/// runtime that runs the container runs it (`runc exec`).
///
/// Exit status: the command's; 1 when the container is not running or
/// unknown; 126 when the command cannot be run (missing, or not
/// executable), as docker exec exits, with the runtime's one-line reason
/// on stderr (Docker's "OCI runtime exec failed: …"). The runtime's own
/// failure is told from a command that exits 255 by the pid file the
/// runtime writes once the command runs.
#[derive(Debug, Parser)]
#[command(
    name = "img-exec",
    version,
    about = "Run a command in a running container (docker exec)",
    trailing_var_arg = true
)]
#[command(after_help = "EXAMPLES:\n  img-exec web cat /etc/hostname\n  img-exec -it web sh")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Keep stdin open and pass it on
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to pass img-exec's own)
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// The user: NAME|UID[:GROUP|GID]
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// The working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container: a name, ID or ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(value_name = "COMMAND", required = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the command; its exit status becomes img-exec's.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let store = cli.common.store()?;
    let container = img_container::Containers::of(&store).find(&cli.container)?;
    let options = Options {
        args: cli.command,
        env: cli.env,
        user: cli.user,
        workdir: cli.workdir,
        interactive: cli.interactive,
        tty: cli.tty,
    };
    let code = exec::exec(&store, &container, &cli.container, &options)?;
    Err(Exit(code).into())
}

//! img-create: make a container without starting it (`docker create`).

use clap::{ArgAction, CommandFactory, Parser};

use img_cli::progress::Stderr;
use img_cli::Common;

/// Create a new container.
///
/// Makes a container of IMAGE as `img-run` would — the image pulled when
/// missing, its layers unpacked, the command, environment, mounts,
/// network and published ports decided once and recorded — and prints its
/// ID, without starting it. `img-start` starts it (in the background, as
/// often as wanted), `img-export` writes its file system, `img-commit`
/// makes an image of it, `img-rm --container` removes it. It takes
/// img-run's flags (see img-run(1)) but -d.
#[derive(Debug, Parser)]
#[command(
    name = "img-create",
    version,
    disable_version_flag = true,
    about = "Create a new container (docker create)",
    disable_help_flag = true,
    trailing_var_arg = true
)]
#[command(
    after_help = "EXAMPLES:\n  img-create --name web -p 8080:80 nginx\n  img-export $(img-create busybox:hello) -o busybox.tar"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub args: img_run::RunArgs,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Create the container and print its ID.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(image) = cli.args.image_or_version("img-create")? else {
        return Ok(());
    };
    let quiet = cli.args.quiet;
    let options = cli.args.options()?;
    let root = std::path::absolute(cli.common.root_dir())?;
    let container = img_runner::run::create(&root, &image, &options, &Stderr::new(quiet))?;
    println!("{}", container.id);
    Ok(())
}

//! img-tag: give an image another name (`docker tag`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_store::ImageArg;

/// Give an image another name.
///
/// Makes TARGET name the image that SOURCE names, as `docker tag` does; an
/// image TARGET named before keeps its other names, or stays as a dangling
/// `<none>` image. With one argument, the image comes as a record on stdin:
/// `img-pull busybox | img-tag mybox:1`. Prints the record of the new name.
#[derive(Debug, Parser)]
#[command(
    name = "img-tag",
    version,
    about = "Give an image another name (docker tag)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-tag busybox:latest mybusybox:latest\n  img-tag 860c279d2fec neko/centos:dev\n  img-load -i app.tar | img-tag localhost:5000/app:1"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// The image to name (name, name@digest, or image ID); omit to read a record from stdin
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// The new name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Tag the image and print the new name's record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (source, target) = match cli.target {
        Some(target) => (ImageArg::Query(cli.source), target),
        None => (cli::one_image_from_stdin("img-tag")?, cli.source),
    };
    let store = cli.common.store()?;
    let record = img_ops::tag::tag(&store, &source, &target)?;
    let mut out = cli::stdout();
    img_core::record::write(&mut out, &record)?;
    out.flush()?;
    Ok(())
}

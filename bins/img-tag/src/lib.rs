//! img-tag: give an image another name (`docker tag`).

use clap::{CommandFactory, Parser};

use img_cli::announce::Announce;
use img_cli::{self as cli, Common};
use img_store::ImageArg;

/// Give an image another name.
///
/// Makes TARGET name the image that SOURCE names, as `docker tag` does; an
/// image TARGET named before keeps its other names, or stays as a dangling
/// `<none>` image. With one argument, the image comes on stdin, as a record
/// or a line holding its ID or name:
/// `img-pull busybox | img-tag mybox:1`. Prints the record of the new name
/// into a pipe or a file, and nothing on a terminal, as `docker tag`.
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
    /// The image to name (name, name@digest, or image ID); omit to read it from stdin (a record, or an image ID or name)
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
    let (image, record) = img_ops::tag::tag(&store, &source, &target)?;
    // docker tag prints nothing on a terminal.
    let mut out = Announce::new(false);
    out.image(image.id(), &record, &[])?;
    out.finish()?;
    Ok(())
}

//! img-inspect: image details as JSON (`docker image inspect`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_ops::inspect;
use img_ops::template::Format;

/// Show details of images as JSON.
///
/// Prints a JSON array with one object per image, with the fields `docker
/// image inspect` prints: Id, RepoTags, RepoDigests, Parent, Comment,
/// Created, Author, Config, Architecture, Variant, Os, Size, RootFS,
/// Metadata, and the manifest's Descriptor. `Config` is the image config's
/// `config` object as stored. Size is the bytes the image's blobs take in the
/// store. For a multi-platform image, the object describes the host
/// platform's image and `Id` is the index digest.
///
/// `-f/--format` renders a Go template for each image instead, as Docker's
/// does, with Docker's functions (json, join, split, lower, upper, title,
/// pad, truncate): `{{.Config.Cmd}}`, `{{json .Config}}`,
/// `{{range .RepoTags}}{{.}} {{end}}`.
///
/// With no IMAGE arguments, reads records from stdin. An image that is not
/// found is reported on stderr, the others are still printed, and the exit
/// status is 1.
#[derive(Debug, Parser)]
#[command(
    name = "img-inspect",
    version,
    about = "Show details of images as JSON (docker image inspect)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-inspect busybox\n  img-inspect -f '{{.Config.Cmd}}' busybox\n  img-inspect -f '{{json .RootFS.Layers}}' busybox\n  img-tag busybox mybox:1 | img-inspect -f '{{.Id}}'"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Images to inspect (name, name@digest, ID or ID prefix); omit to read records from stdin
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Format the output with a Go template
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Inspect the images.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let format = cli.format.as_deref().map(Format::parse).transpose()?;
    let images = cli::images_from(&cli.images)?;
    let store = cli.common.store()?;
    let mut out = cli::stdout();
    let mut found = Vec::new();
    let result = cli::for_each_image("img-inspect", &images, |image| {
        let details = inspect::inspect(&store, &image.resolve(&store)?)?;
        if let Some(format) = &format {
            let line = format.render(&inspect::template_data(&details)?)?;
            writeln!(out, "{line}").map_err(|e| img_core::Error::io("writing to stdout", e))?;
        } else {
            found.push(details);
        }
        Ok(())
    });
    if format.is_none() {
        out.write_all(&inspect::to_json_array(&found)?)?;
    }
    out.flush()?;
    result.map(|_| ())
}

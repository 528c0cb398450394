//! img-inspect: image details as JSON (`docker image inspect`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_core::template::Format;
use img_ops::inspect;

/// Show details of images as JSON.
///
/// Prints a JSON array with one object per image, with the fields current
/// `docker image inspect` prints, in its order: Id, RepoTags, RepoDigests,
/// Comment, Created, DockerVersion and Author (each only when set; Comment
/// is the config's, else the last history entry's, where img-commit -m and
/// docker commit -m put the message), Config, Architecture, Variant, Os,
/// OsVersion, Size, RootFS, Metadata, and the manifest's Descriptor.
/// `Config` is the image config's runtime config as Docker's API shows it:
/// User, ExposedPorts, Env, Entrypoint, Cmd, Volumes, WorkingDir, Labels,
/// StopSignal, ArgsEscaped, Healthcheck, OnBuild, Shell, in that order and
/// only when set (Docker 20.10's other fields, such as Hostname or Image,
/// are not shown, as current Docker does not show them). Size is the bytes
/// the image's config and layers take in the store (compressed, but for the
/// layers img-build made until a push compresses them), not the
/// manifest's (Docker's containerd image store counts the same content;
/// its classic store shows the uncompressed size). For a multi-platform
/// image, the object describes the host platform's image and `Id` is the
/// index digest.
///
/// `-f/--format` renders a Go template for each image instead, as Docker's
/// does, with Docker's functions (json, join, split, lower, upper, title,
/// pad, truncate): `{{.Config.Cmd}}`, `{{json .Config}}`,
/// `{{range .RepoTags}}{{.}} {{end}}`. As with Docker, the template runs on
/// the Go struct first, with its field names (`{{.ID}}`,
/// `{{.Descriptor.MediaType}}`), nil lists as `[]`, durations as Go prints
/// them (`{{.Config.Healthcheck.Interval}}` is `30s`) and `{{json …}}` of
/// an object in Docker's field order without empty fields; and when that
/// fails, on the JSON object (`{{.Id}}`, `{{.Descriptor.mediaType}}`). A
/// field neither has fails (`template parsing error: …`, exit status 1); a
/// template that does not parse is bad usage (exit status 2). Printing a
/// whole object without json (`{{.Config}}`) shows a Go map of its fields,
/// where Docker shows a Go struct's values, and an absent object
/// (`{{.Config.Healthcheck}}` of an image without one) prints `<no value>`
/// where Docker prints `<nil>`: img's templates have maps, not structs.
///
/// With no IMAGE arguments, reads the images from stdin, one a line: records,
/// or image IDs or names (`img-ls -q | img-inspect`). An image that is not
/// found is reported on stderr, the others are still printed, and the exit
/// status is 1; when none is, stdout gets `[]`, or with -f an empty line,
/// as with Docker.
#[derive(Debug, Parser)]
#[command(
    name = "img-inspect",
    version,
    about = "Show details of images as JSON (docker image inspect)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-inspect busybox\n  img-inspect -f '{{.Config.Cmd}}' busybox\n  img-inspect -f '{{json .RootFS.Layers}}' busybox\n  img-inspect -f '{{.Config.Healthcheck.Interval}}' app:1\n  img-tag busybox mybox:1 | img-inspect -f '{{.Id}}'"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Images to inspect (name, name@digest, ID or ID prefix); omit to read them from stdin (records, or image IDs or names, one a line)
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
    let mut rendered = 0;
    let result = cli::for_each_image("img-inspect", &images, |image| {
        let details = inspect::inspect(&store, &image.resolve(&store)?)?;
        if let Some(format) = &format {
            let line = inspect::render(format, &details)?;
            writeln!(out, "{line}").map_err(|e| img_core::Error::io("writing to stdout", e))?;
            rendered += 1;
        } else {
            found.push(details);
        }
        Ok(())
    });
    match format {
        None => out.write_all(&inspect::to_json_array(&found)?)?,
        // Docker prints an empty line when no image was rendered, as it
        // prints `[]` without a template.
        Some(_) if rendered == 0 => out.write_all(b"\n")?,
        Some(_) => {}
    }
    out.flush()?;
    result.map(|_| ())
}

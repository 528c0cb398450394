//! img-history: the layers of an image and the steps that made them
//! (`docker history`).

use std::io::Write;

use clap::{ArgAction, CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_core::platform::Platform;
use img_core::template::RowFormat;
use img_ops::history::{self, View};
use img_store::ImageArg;

/// Show the history of an image.
///
/// Prints the steps that made the image, newest first, as `docker history`
/// does: IMAGE, CREATED, CREATED BY, SIZE, COMMENT. The top row shows the
/// image ID; steps below it show `<missing>`, since img keeps no
/// intermediate images. SIZE is the size of the layer the step made, as
/// stored (compressed, except the layers img-build made and no push has
/// compressed yet), and 0B for steps that made no layer. Docker shows
/// the layer unpacked instead: img keeps pulled layers packed, and would
/// have to read every layer of the image to count them so.
///
/// `-H=false` prints times as RFC 3339 and sizes in bytes; `--no-trunc`
/// shows full IDs and commands; `-q` only IDs. `--format` takes a Go
/// template (fields .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment;
/// another field fails, exit status 1), `table TEMPLATE`, or `json`, and
/// wins over -q, as with Docker; `--json` is the same as `--format json`.
/// With no IMAGE argument, reads the image from stdin: a record, or a line
/// holding an image ID or name.
#[derive(Debug, Parser)]
#[command(
    name = "img-history",
    version,
    about = "Show the history of an image (docker history)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-history busybox\n  img-history --no-trunc -H=false busybox\n  img-history --format '{{.CreatedBy}}' busybox"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// The image (name, name@digest, ID or ID prefix); omit to read it from stdin (a record, or an image ID or name)
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the rows with a Go template, 'table TEMPLATE', or 'json'
    #[arg(long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<String>,
    /// Print one JSON object per row (same as --format json)
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// For a multi-platform image, the platform to show (default: this machine's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Print the image's history.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let format = if cli.json {
        Some("json")
    } else {
        cli.format.as_deref()
    };
    let format = RowFormat::parse(format, history::FIELDS)?;
    let image = match cli.image {
        Some(name) => ImageArg::Query(name),
        None => cli::one_image_from_stdin("img-history")?,
    };
    let store = cli.common.store()?;
    let found = image.resolve(&store)?;
    let steps = history::history(&store, &found, cli.platform.as_ref())?;
    // As docker history: a template of its own wins over -q.
    let custom = !matches!(format, RowFormat::Default);
    let view = View {
        human: cli.human,
        no_trunc: cli.no_trunc,
        quiet: cli.quiet && !custom,
        format,
    };
    let mut out = cli::stdout();
    out.write_all(history::render(&steps, &view, img_core::timestamp::now())?.as_bytes())?;
    out.flush()?;
    Ok(())
}

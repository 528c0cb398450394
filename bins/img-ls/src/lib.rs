//! img-ls: list images (`docker images`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_core::template::RowFormat;
use img_ops::ls::{self as listing, Filters, View};

/// List images.
///
/// Prints the images in the store as `docker images` does: one row per
/// repository and tag, newest image first, `<none>` for what has no name.
/// SIZE is the bytes the image's config and compressed layers take in the
/// store, not counting the manifest, as Docker's containerd image store
/// counts content (for a multi-platform image: every platform's config,
/// layers and manifest, and the index); Docker's classic store shows the
/// uncompressed size instead. CREATED comes from the image config.
///
/// REPOSITORY[:TAG] limits the list to matching names (a pattern as in
/// `--filter reference=`). Filters: `dangling=true|false` (images without
/// any name), `reference=PATTERN` (shell-style, `*` does not cross `/`;
/// matched against `name:tag` and `name`), `before=IMAGE` and `since=IMAGE`
/// (created before/after that image), `label=KEY` or `label=KEY=VALUE`.
/// Different filters must all match; several `reference` patterns are
/// alternatives; several labels must all be present.
///
/// `--json` prints one record per listed name (an unnamed record for a
/// dangling image) for other programs to read: `img-ls --json --filter
/// dangling=true | img-rm`. `--format` takes a Go template as Docker's does
/// (fields .ID .Repository .Tag .Digest .CreatedSince .CreatedAt .Size
/// .Containers .SharedSize .UniqueSize .VirtualSize; another field fails,
/// exit status 1), `table TEMPLATE` for a table with headers, or `json` for
/// one JSON object per row; a template that names `{{.Digest}}` shows the
/// digests as --digests does, and a template wins over -q, as with Docker.
/// img keeps no intermediate images, so `-a` lists the same images.
///
/// `--blobs` prints the digest of every blob the listed images hold
/// (manifests, configs, layers; each once, sorted), one a line: what this
/// store has, to carry to a connected site, where `img-save
/// --exclude-blobs-from FILE` leaves those layers out of the archive it
/// writes for this one (img-save(1)).
///
/// `--containers` lists the containers img-run made instead, as `docker ps
/// -a` does: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS (`Exited (0) 2
/// minutes ago`, `Up`, `Created`), PORTS, NAMES, newest first; `-q` prints
/// only their IDs, `--no-trunc` whole IDs and commands.
#[derive(Debug, Parser)]
#[command(name = "img-ls", version, about = "List images (docker images)")]
#[command(
    after_help = "EXAMPLES:\n  img-ls\n  img-ls busybox\n  img-ls -q --filter dangling=true\n  img-ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'\n  img-ls --json --filter reference='localhost:5000/*' | img-push\n  img-ls --blobs > have.txt\n  img-ls --containers"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Only images whose name matches (a pattern, as --filter reference=)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
    /// Show all images (img keeps no intermediate images: same as without)
    #[arg(short, long)]
    pub all: bool,
    /// Show the manifest digest of each name
    #[arg(long)]
    pub digests: bool,
    /// Filter the list: dangling=, reference=, before=, since=, label=
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format the rows with a Go template, 'table TEMPLATE', or 'json'
    #[arg(long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<String>,
    /// Show full image IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print records (NDJSON OCI descriptors) instead of a table
    #[arg(long)]
    pub json: bool,
    /// Print the digests of the listed images' blobs, one a line (for img-save --exclude-blobs-from)
    #[arg(long, conflicts_with_all = ["json", "format", "digests", "quiet", "containers"])]
    pub blobs: bool,
    /// List img-run's containers instead (docker ps -a)
    #[arg(long, conflicts_with_all = ["json", "format", "digests", "filter", "repository"])]
    pub containers: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// List the images.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut filters = Filters::parse(&cli.filter)?;
    if let Some(pattern) = &cli.repository {
        filters.add_reference(pattern)?;
    }
    let format = RowFormat::parse(cli.format.as_deref(), listing::FIELDS)?;
    let store = cli.common.store()?;
    let mut out = cli::stdout();
    if cli.containers {
        // What img-ps -a lists (kept for scripts written before img-ps).
        let view = img_ops::ps::View {
            all: true,
            quiet: cli.quiet,
            no_trunc: cli.no_trunc,
            filters: Vec::new(),
            format: RowFormat::Default,
        };
        out.write_all(img_ops::ps::list(&store, &view)?.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let images = listing::list(&store, &filters)?;
    if cli.blobs {
        let digests: std::collections::BTreeSet<String> = images
            .iter()
            .flat_map(|i| i.target.blobs())
            .map(|d| d.digest().to_string())
            .collect();
        for digest in digests {
            writeln!(out, "{digest}")?;
        }
    } else if cli.json {
        for image in &images {
            for record in image.records() {
                img_core::record::write(&mut out, &record)?;
            }
        }
    } else {
        // As docker images: a template of its own wins over -q, and one
        // that names .Digest shows the digests.
        let custom = !matches!(format, RowFormat::Default);
        let digests = cli.digests
            || cli
                .format
                .as_deref()
                .is_some_and(|f| f.contains("{{.Digest}}"));
        let view = View {
            quiet: cli.quiet && !custom,
            no_trunc: cli.no_trunc,
            digests,
            format,
        };
        out.write_all(listing::render(&images, &view, img_core::format::now())?.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

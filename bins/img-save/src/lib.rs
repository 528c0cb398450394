//! img-save: save one or more images to a tar archive (`docker save`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_archive::{self as archive, Exclusions, Format};
use img_cli::{self as cli, Common};
use img_core::output::{self, TarJob};
use img_store::ImageArg;
use img_store::Store;

/// Save one or more images to a tar archive (streamed to stdout by default).
///
/// Writes the images, with every blob they need, as one tar archive to FILE
/// or stdout, like `docker save`. The default format is the archive Docker
/// 25 and later write: an OCI image layout (oci-layout, index.json,
/// blobs/sha256/…) plus Docker's manifest.json (with full names in
/// RepoTags, as skopeo writes them) and repositories, which
/// `docker load` (old and new), `podman load`, `skopeo` (docker-archive: and
/// oci-archive:) and `img-load` all read. `--format oci` writes the plain OCI
/// image layout instead.
///
/// Images are named, as everywhere in img, by name, name@digest, image ID
/// or ID prefix; with no IMAGE, they are read from stdin, one a line, as
/// records or image IDs or names
/// (`img-ls --json --filter reference='app*' | img-save -o apps.tar`). A
/// repository name without a tag (`busybox`) saves every tagged image of
/// that repository, as Docker does. An image given by ID is saved without a
/// name. A multi-platform index is saved with the platforms the store
/// holds.
///
/// Blobs are written once however many images share them, and as they are
/// stored: layers are never recompressed, so an image's ID and manifest
/// digest survive `img-save | img-load`. The archive's metadata is fixed
/// (owner root, time 0), so saving the same images twice gives the same
/// bytes. With -o, the archive is written under a temporary name beside
/// FILE and renamed when complete. img-save refuses to write to a terminal.
///
/// A thin archive, for a site that already holds most of the layers (an
/// air-gapped network), leaves out the layers the receiving side has:
/// `--exclude-blobs-from FILE` reads what it has (`-` for stdin), one
/// sha256:… digest a line as `img-ls --blobs` prints it there, or records
/// as `img-ls --json` prints them there (a record of an image this store
/// holds stands for all of its blobs); `--exclude-image IMAGE` leaves out
/// the layers an image of this store shares (the other side has that
/// image). Only layers are left out; manifests and configs always travel.
/// The archive stays a valid OCI image layout, which may lack blobs: its
/// index.json lists the left-out digests in the io.img.archive.blobs-left-out
/// annotation (img.7). `img-load` completes it from its own store. Other
/// tools never load a broken image from it: they load it when they hold the
/// left-out layers themselves (Docker finds them by chain ID, podman and
/// skopeo by digest) and otherwise fail on the missing layer file.
#[derive(Debug, Parser)]
#[command(
    name = "img-save",
    version,
    about = "Save one or more images to a tar archive (docker save)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-save busybox > busybox.tar\n  img-save -o fedora-all.tar fedora\n  img-save --format oci app:1 app:2 | zstd > apps.tar.zst\n  img-save busybox | img-load --root /srv/other-store\n  img-save --exclude-blobs-from have.txt -o app-2.tar app:2   # have.txt: img-ls --blobs on the other side"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Write to FILE instead of stdout (complete or not at all; a regular file or a new name: a
    /// device such as /dev/null is refused, as docker refuses it — redirect stdout there)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker (Docker 25+ archive, readable by old and new tools) or oci (plain OCI layout)
    #[arg(long, value_enum, default_value = "docker")]
    pub format: FormatArg,
    /// Images to save (name, name@digest, ID); omit to read them from stdin (records, or image IDs or names, one a line)
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Leave out the layers listed in FILE, which the receiving side has: digests one a line (img-ls --blobs) or records (img-ls --json); - is stdin (repeatable)
    #[arg(long, value_name = "FILE")]
    pub exclude_blobs_from: Vec<PathBuf>,
    /// Leave out the layers of IMAGE (of this store), which the receiving side has (repeatable)
    #[arg(long, value_name = "IMAGE")]
    pub exclude_image: Vec<String>,
}

/// The archive format img-save writes, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Docker 25+'s archive: an OCI layout plus manifest.json and repositories.
    Docker,
    /// A plain OCI image layout.
    Oci,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Docker => Format::Docker,
            FormatArg::Oci => Format::Oci,
        }
    }
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

struct Save<'a> {
    store: &'a Store,
    images: &'a [ImageArg],
    format: Format,
    exclude: &'a Exclusions,
}

impl TarJob for Save<'_> {
    fn write<W: img_core::output::Sink>(self, out: W) -> img_core::Result<W> {
        archive::save(self.store, self.images, self.format, self.exclude, out)
    }
}

/// Save the images.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.output.is_none() {
        // Before reading records or the store: a terminal is no place for a tar.
        output::refuse_terminal_stdout("an image archive")?;
    }
    let reads_stdin = cli.exclude_blobs_from.iter().any(|p| p.as_os_str() == "-");
    if reads_stdin && cli.images.is_empty() {
        return Err(img_core::Error::invalid(
            "--exclude-blobs-from - reads stdin, so name the images to save as arguments",
        )
        .into());
    }
    let images = cli::images_from(&cli.images)?;
    let store = cli.common.store()?;
    let mut exclude = Exclusions::none();
    for path in &cli.exclude_blobs_from {
        exclude.read_file(&store, path)?;
    }
    for image in &cli.exclude_image {
        exclude.add_image(&store, &ImageArg::Query(image.clone()))?;
    }
    let job = Save {
        store: &store,
        images: &images,
        format: cli.format.into(),
        exclude: &exclude,
    };
    output::write_tar(cli.output.as_deref(), "an image archive", job)?;
    Ok(())
}

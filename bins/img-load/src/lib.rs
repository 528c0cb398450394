//! img-load: load images from a tar archive (`docker load`).

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_cli::announce::{Announce, Mode};
use img_cli::Common;
use img_core::error::{Error, IoContext};
use img_core::record;

/// Load images from a tar archive (read from stdin by default).
///
/// Reads an image archive from FILE or stdin and stores its images, like
/// `docker load`. It accepts what img-save and `docker save` write (the
/// Docker 25+ archive, OCI layout plus manifest.json), the legacy Docker
/// archive (<id>/layer.tar, <id>.json, manifest.json) as older Docker,
/// `podman save` and `skopeo copy … docker-archive:` write it, OCI image
/// layout archives (`skopeo copy … oci-archive:`, `podman save --format
/// oci-archive`), and any of these compressed with gzip or zstd (recognised
/// by their first bytes, whatever the file is called).
///
/// Every blob is verified while it streams in: a blob under
/// blobs/sha256/HEX must hash to HEX, and a legacy layer must match its
/// config's diff_id. Nothing becomes visible until the whole archive has been
/// read and checked; a truncated, malformed or lying archive (wrong digest,
/// missing blob, an entry leaving the archive with `..`, an index that
/// lists another index — img reads indexes one level deep, as `docker pull`
/// does) fails with exit status 2 and leaves the store as it was. Every
/// layer is checked before anything is committed, as img-import checks one:
/// an entry leaving the root (`..`), a hard link out of it or a whiteout of
/// `.` or `..` refuses the archive the same way. Blobs are stored as they come,
/// never recompressed, so image IDs (config digests) survive, and so do
/// manifest digests where the archive carries manifests.
///
/// A layer the archive lacks is taken from the store when the store holds
/// it: that completes a thin archive (`img-save --exclude-blobs-from`, made
/// against `img-ls --blobs` of this store; img(7)). When the store does not
/// have it either, nothing is loaded and the error names every missing
/// blob with the images that need it: exit status 1 when the archive
/// declared them left out (load the base image first), 2 when the archive
/// is simply incomplete.
///
/// Images take the names the archive gives them (Docker's RepoTags, the
/// io.containerd.image.name annotation, or the OCI ref.name annotation);
/// a name held by another image moves, and the other image keeps its other
/// names or stays as a dangling <none> image, as with Docker. For each name,
/// stderr shows `Loaded image: NAME:TAG`; an image without one shows
/// `Loaded image ID: sha256:…`. stdout gets one record per loaded name (or
/// per unnamed image) for the next program in the pipe; on a terminal it
/// gets the `Loaded image` lines instead, as `docker load` prints them there
/// (and stderr does not repeat them).
#[derive(Debug, Parser)]
#[command(
    name = "img-load",
    version,
    about = "Load images from a tar archive (docker load)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-load -i busybox.tar\n  img-load < fedora.tar.gz\n  zstd -dc apps.tar.zst | img-load -q\n  skopeo copy docker://alpine docker-archive:/dev/stdout | img-load | img-tag myalpine:1"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Read the archive from FILE instead of stdin
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Do not print the `Loaded image` lines on stderr (a terminal on stdout still gets them)
    #[arg(short, long)]
    pub quiet: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Load the archive and print records.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let store = cli.common.store()?;
    let loaded = match cli.input.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let file =
                std::fs::File::open(path).io_context(|| format!("opening {}", path.display()))?;
            img_archive::load_file(&store, file)?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(Error::invalid(
                    "requested load from stdin, but stdin is a terminal: pipe an archive in, or use -i FILE",
                )
                .into());
            }
            match regular_file(&stdin) {
                // `img-load < FILE` reads as fast as `-i FILE`.
                Some(file) => img_archive::load_file(&store, file)?,
                None => {
                    img_core::output::widen_pipe(&stdin);
                    img_archive::load(&store, stdin.lock())?
                }
            }
        }
    };
    let mut out = Announce::new(false);
    // People read these lines on stdout when it is a terminal, as docker
    // load prints them there; else on stderr, beside the records.
    let to_stderr = !cli.quiet && out.mode() != Mode::Terminal;
    for image in &loaded {
        let id = image.target.id();
        if image.names.is_empty() {
            let lines = [format!("Loaded image ID: {id}")];
            tell(to_stderr, &lines);
            out.image(id, &record::for_target(&image.target, None), &lines)?;
        }
        for name in &image.names {
            let mut lines: Vec<String> = image
                .replaced
                .iter()
                .filter(|(replaced, _)| replaced == name)
                .map(|(_, old)| {
                    format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        name.familiar()
                    )
                })
                .collect();
            lines.push(format!("Loaded image: {}", name.familiar()));
            tell(to_stderr, &lines);
            out.image(id, &record::for_target(&image.target, Some(name)), &lines)?;
        }
    }
    out.finish()?;
    Ok(())
}

/// Docker's lines on stderr, when they go there.
fn tell(to_stderr: bool, lines: &[String]) {
    if to_stderr {
        for line in lines {
            eprintln!("{line}");
        }
    }
}

/// stdin as a file, when it is a regular file (a shell redirection).
fn regular_file(stdin: &std::io::Stdin) -> Option<std::fs::File> {
    let file = std::fs::File::from(stdin.as_fd().try_clone_to_owned().ok()?);
    let is_file = file.metadata().ok()?.is_file();
    is_file.then_some(file)
}

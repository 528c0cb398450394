//! img-load: load images from a tar archive (`docker load`).

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img::cli::{self, Common};
use img::error::{Error, IoContext};

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
/// does) fails with exit status 2 and leaves the store as it was. Blobs are stored as they come,
/// never recompressed, so image IDs (config digests) survive, and so do
/// manifest digests where the archive carries manifests.
///
/// Images take the names the archive gives them (Docker's RepoTags, the
/// io.containerd.image.name annotation, or the OCI ref.name annotation);
/// a name held by another image moves, and the other image keeps its other
/// names or stays as a dangling <none> image, as with Docker. For each name,
/// stderr shows `Loaded image: NAME:TAG`; an image without one shows
/// `Loaded image ID: sha256:…`. stdout gets one record per loaded name (or
/// per unnamed image) for the next program in the pipe.
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
    /// Do not print the `Loaded image` lines on stderr
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
            img::archive::load_file(&store, file)?
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
                Some(file) => img::archive::load_file(&store, file)?,
                None => {
                    img::output::widen_pipe(&stdin);
                    img::archive::load(&store, stdin.lock())?
                }
            }
        }
    };
    let mut out = cli::stdout();
    for image in &loaded {
        if !cli.quiet {
            for (name, old) in &image.replaced {
                eprintln!(
                    "The image {} already exists, renaming the old one with ID {old} to empty string",
                    name.familiar()
                );
            }
            if image.names.is_empty() {
                eprintln!("Loaded image ID: {}", image.target.id());
            }
            for name in &image.names {
                eprintln!("Loaded image: {}", name.familiar());
            }
        }
        if image.names.is_empty() {
            img::record::write(&mut out, &img::record::for_target(&image.target, None))?;
        }
        for name in &image.names {
            img::record::write(
                &mut out,
                &img::record::for_target(&image.target, Some(name)),
            )?;
        }
    }
    std::io::Write::flush(&mut out).io_context(|| "writing records".into())?;
    Ok(())
}

/// stdin as a file, when it is a regular file (a shell redirection).
fn regular_file(stdin: &std::io::Stdin) -> Option<std::fs::File> {
    let file = std::fs::File::from(stdin.as_fd().try_clone_to_owned().ok()?);
    let is_file = file.metadata().ok()?.is_file();
    is_file.then_some(file)
}

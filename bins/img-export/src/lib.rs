//! img-export: write an image's flattened root filesystem as a tar
//! (`docker export`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_core::error::Error;
use img_core::output::{self, TarJob};
use img_core::platform::Platform;
use img_store::ImageArg;
use img_store::Store;

/// Write a container's file system, or an image's flattened root
/// filesystem, as a tar archive.
///
/// Given a CONTAINER (a name, ID or ID prefix of one; containers are
/// looked for first, as `docker export` takes containers), writes its file
/// system as `docker export` does: the image's layers, the mount points of
/// its init layer and what the container changed, merged by a read-only
/// overlay mounted in img-export's own mount namespace (root is needed);
/// a running container is not paused. `img-export $(img-create IMAGE)`
/// exports an image as Docker users do.
///
/// Writes the root filesystem of IMAGE as one tar, to FILE or stdout, like
/// `docker export` does for a container: the image's layers applied in
/// order, a path in a higher layer replacing the same path below, whiteouts
/// (`.wh.NAME`) deleting what lower layers had, and opaque directories
/// (`.wh..wh..opq`) hiding their lower contents, exactly as the OCI image
/// spec defines them. Whiteout files themselves never appear in the output.
/// Each path appears once; a directory comes before its contents, with the
/// metadata of its highest layer. Modes, owners, times, device numbers,
/// symbolic links, hard links and extended attributes (PAX records) are
/// kept; a hard link whose target a higher layer replaced keeps the content
/// it had, as unpacking the layers in order gives.
///
/// The layers are streamed from the store twice (once to learn what higher
/// layers override, once to write), never unpacked to disk, and verified
/// against their digests; memory grows with the number of paths, not with
/// the size of the image. For a multi-platform image the host's platform is
/// exported, or the one --platform names. With no IMAGE, a record is read
/// from stdin. img-export refuses to write to a terminal.
///
/// With --output-dir DIR, the image's root filesystem is written into DIR
/// instead (which must be empty or not exist yet), as `img-export IMAGE |
/// tar -x -C DIR` would and as `umoci unpack` lays out a bundle's rootfs:
/// the same tree, each path written once (the version the image shows, never
/// one a higher layer replaces or deletes), owners (when run as root), modes,
/// times, extended attributes, hard links and device nodes exact. The layers
/// are read once each, decompressed in parallel, and the files made from as
/// many threads as there are cores; a lower layer's files wait in a hidden
/// staging directory of DIR until the layers above it are known. Everything
/// is written through directory handles inside DIR: no link in an image
/// leads outside it. When unpacking fails, DIR is left as it was.
#[derive(Debug, Parser)]
#[command(
    name = "img-export",
    version,
    about = "Write an image's flattened root filesystem as a tar (docker export)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-export $(img-create busybox:hello) -o busybox.tar\n  img-export busybox > busybox-rootfs.tar\n  img-export --output-dir rootfs app:1\n  img-export -o rootfs.tar app:1\n  img-export app:1 | tar -tv | head\n  img-export app:1 | img-import - app:flat"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Write to FILE instead of stdout (complete or not at all; a regular file or a new name: a
    /// device such as /dev/null is refused, as docker refuses it — redirect stdout there)
    #[arg(short, long, value_name = "FILE", conflicts_with = "output_dir")]
    pub output: Option<PathBuf>,
    /// Write the image's root filesystem into the directory DIR (new or empty) instead of a tar
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// For a multi-platform image, the platform to export (os/arch[/variant]) [default: the host's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,
    /// The container (name, ID) or image (name, name@digest, ID); omit to read it from stdin (a record, or an image ID or name)
    #[arg(value_name = "CONTAINER|IMAGE")]
    pub image: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

struct Export<'a> {
    store: &'a Store,
    image: &'a ImageArg,
    platform: Option<&'a Platform>,
}

impl TarJob for Export<'_> {
    fn write<W: img_core::output::Sink>(self, out: W) -> img_core::Result<W> {
        img_layers::export::export(self.store, self.image, self.platform, out)
    }
}

struct ExportContainer<'a> {
    store: &'a Store,
    container: &'a img_container::Container,
}

impl TarJob for ExportContainer<'_> {
    fn write<W: img_core::output::Sink>(self, out: W) -> img_core::Result<W> {
        img_runner::export::export(self.store, self.container, out)
    }
}

/// Export the image.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.output.is_none() && cli.output_dir.is_none() {
        img_core::output::refuse_terminal_stdout("a root filesystem tar")?;
    }
    let store = cli.common.store()?;
    // A container first, as docker export takes containers.
    if let Some(container) = cli
        .image
        .as_deref()
        .and_then(|q| img_container::Containers::of(&store).find(q).ok())
    {
        if cli.output_dir.is_some() {
            return Err(Error::invalid(
                "--output-dir unpacks an image; for a container, use img-export CONTAINER | tar -x",
            )
            .into());
        }
        output::write_tar(
            cli.output.as_deref(),
            "a root filesystem tar",
            ExportContainer {
                store: &store,
                container: &container,
            },
        )?;
        return Ok(());
    }
    let mut images = cli::images_from(cli.image.as_slice())?;
    if images.len() != 1 {
        return Err(Error::invalid(format!(
            "img-export exports one image, but stdin named {}",
            images.len()
        ))
        .into());
    }
    let image = images.remove(0);
    if let Some(dir) = &cli.output_dir {
        img_layers::export::unpack(&store, &image, cli.platform.as_ref(), dir)?;
        return Ok(());
    }
    let job = Export {
        store: &store,
        image: &image,
        platform: cli.platform.as_ref(),
    };
    output::write_tar(cli.output.as_deref(), "a root filesystem tar", job)?;
    Ok(())
}

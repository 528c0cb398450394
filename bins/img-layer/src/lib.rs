//! img-layer: create, diff, apply, list and extract layer tars (what
//! `crane`, `umoci` and `docker diff`/`docker save` do with layers).

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use img_cli::{self as cli, Common};
use img_core::error::{Error, IoContext};
use img_core::platform::Platform;
use img_layers::{layer, Compression};
use img_store::ImageArg;

/// Create, diff, apply, list and extract layer tars.
///
/// A layer is a tar of a file system tree with OCI whiteouts (`.wh.NAME`
/// deletes NAME from the layers below, `.wh..wh..opq` empties a directory of
/// them), plain, gzip or zstd compressed. `create` and `diff` write one,
/// `apply` unpacks one onto a directory, `ls` lists an image's layers or a
/// layer's files, `extract` writes a layer of an image from the store.
///
/// Layers made here are reproducible: entries sorted by name, only type,
/// mode, numeric owner, whole-second mtime, link targets, device numbers and
/// extended attributes (user., trusted., security. but security.selinux)
/// stored, so the same tree gives the same bytes; `--mtime EPOCH` (or
/// SOURCE_DATE_EPOCH) clamps later times to EPOCH, as BuildKit's
/// rewrite-timestamp does. Hard links stay hard links, symbolic links are
/// stored and never followed, sockets are skipped. gzip is written at
/// Docker's default level (6), zstd at level 3 on every core.
#[derive(Debug, Parser)]
#[command(
    name = "img-layer",
    version,
    about = "Create, diff, apply, list and extract layer tars (crane/umoci)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-layer create --compression gzip rootfs >layer.tar.gz\n  img-layer diff old/ new/ -o changes.tar\n  img-layer apply layer.tar.zst rootfs/\n  img-layer ls busybox\n  img-layer ls --files layer.tar.gz\n  img-layer extract busybox 0 -o bottom.tar.gz"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// A compression for the layers img-layer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// A plain tar.
    None,
    /// gzip, Docker's default level.
    Gzip,
    /// zstd level 3, multithreaded.
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(arg: CompressionArg) -> Compression {
        match arg {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// How a written layer is compressed and timed.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteArgs {
    /// Compression of the layer written
    #[arg(long, value_enum, default_value = "none")]
    pub compression: CompressionArg,
    /// Write modification times later than EPOCH (seconds since 1970) as EPOCH
    #[arg(long, value_name = "EPOCH", env = "SOURCE_DATE_EPOCH")]
    pub mtime: Option<u64>,
    /// Write the layer to FILE (complete or not at all; a regular file or a new name: a device such
    /// as /dev/null is refused — redirect stdout there) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl WriteArgs {
    fn new_layer(&self) -> layer::NewLayer<'_> {
        layer::NewLayer {
            output: self.output.as_deref(),
            compression: self.compression.into(),
            clamp_mtime: self.mtime,
        }
    }
}

/// img-layer's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write DIR's tree (not DIR itself) as a layer tar
    ///
    /// A file named `.wh.NAME` becomes a whiteout of NAME, as in any layer;
    /// names that would make a whiteout of `.` or `..` (`.wh.`, `.wh..`,
    /// `.wh...`) or put entries below a whiteout are refused (exit 2), since
    /// no reader of layers accepts them.
    Create {
        /// The directory whose contents become the layer
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Write the layer that turns LOWER into UPPER (changes, and whiteouts for removals)
    ///
    /// A path is written when it is new or changed: type, mode, owner,
    /// mtime, size, extended attributes, link target, device numbers or
    /// bytes differ; a directory present in both only when its own
    /// metadata changed or something under it did (as containerd's diff
    /// does, so that its time comes out right). Removed paths become
    /// `.wh.NAME` whiteouts, one per removed path, as Docker's diff writes
    /// them, except that a directory that lost all of its two or more
    /// children gets one opaque marker (`.wh..wh..opq`) instead; a path whose
    /// type changed is written whole, which replaces what LOWER had there.
    /// Names that would make a whiteout of `.` or `..` are refused (exit 2),
    /// as with `create`.
    Diff {
        /// The tree before
        #[arg(value_name = "LOWER")]
        lower: PathBuf,
        /// The tree after
        #[arg(value_name = "UPPER")]
        upper: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Apply a layer (plain, gzip or zstd) onto DIR, whiteouts included
    ///
    /// Entries never land outside DIR: `..` paths are refused, and symbolic
    /// links on the way are resolved as if DIR were `/`. A layer that names a
    /// path outside DIR (`..`), a hard link out of it, or a whiteout of `.`
    /// or `..` is refused (exit 2): a layer file (or stdin redirected from
    /// one) is checked whole before anything is written, a pipe entry by
    /// entry as it is applied. Owners are set when
    /// running as root; device nodes need root and are skipped (with a
    /// warning) otherwise.
    Apply {
        /// The layer file (`-` or omitted: stdin), then the directory
        #[arg(value_name = "[LAYER|-] DIR", num_args = 1..=2, required = true)]
        paths: Vec<PathBuf>,
    },
    /// List an image's layers, or with --files a layer's entries
    ///
    /// For an image: DIGEST, DIFF ID, SIZE (as stored) and MEDIA TYPE, bottom
    /// layer first (position 0, as `extract` counts); `--json` prints the
    /// manifest's layer descriptors as NDJSON. With --files: the entries of
    /// a layer tar like `tar -tv` (type and mode, uid/gid, size, time, path),
    /// whiteouts shown as `PATH (removed)`.
    Ls {
        /// The image (name, name@digest, ID), or with --files the layer file;
        /// omitted or `-`: a record or image ID on stdin (with --files the layer)
        #[arg(value_name = "IMAGE|LAYER")]
        target: Option<String>,
        /// List the entries of a layer tar instead
        #[arg(long, conflicts_with_all = ["quiet", "json", "no_trunc", "platform"])]
        files: bool,
        /// Don't truncate digests
        #[arg(long)]
        no_trunc: bool,
        /// Only show layer digests
        #[arg(short, long)]
        quiet: bool,
        /// Print the layer descriptors as NDJSON records
        #[arg(long, conflicts_with = "quiet")]
        json: bool,
        /// For a multi-platform image, the platform (default: this machine's)
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<Platform>,
    },
    /// Write one layer of an image as stored (or --uncompressed, its tar)
    ///
    /// LAYER is a position (0 the bottom, as `img-layer ls` lists them), or
    /// a layer digest or diff_id (or a unique prefix); the top layer by
    /// default. The blob is checked against its digest, the uncompressed
    /// tar against the config's diff_id.
    Extract {
        /// The image (name, name@digest, ID); `-`: a record or image ID on stdin
        #[arg(value_name = "IMAGE")]
        image: String,
        /// Which layer (position, digest or diff_id); default: the top one
        #[arg(value_name = "N|DIGEST")]
        layer: Option<String>,
        /// Write the uncompressed tar (its digest is the diff_id)
        #[arg(long)]
        uncompressed: bool,
        /// Write to FILE (complete or not at all) instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// For a multi-platform image, the platform (default: this machine's)
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<Platform>,
    },
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the subcommand: one call into `img_layers::layer` each.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Create { dir, write } => {
            warn_sockets(layer::create_layer(&dir, write.new_layer())?);
        }
        Command::Diff {
            lower,
            upper,
            write,
        } => {
            warn_sockets(layer::diff_layer(&lower, &upper, write.new_layer())?);
        }
        Command::Apply { paths } => {
            let (file, dir) = match paths.as_slice() {
                [dir] => (None, dir),
                [file, dir] => (Some(file.as_path()), dir),
                _ => unreachable!("clap takes one or two paths"),
            };
            warn_applied(&layer::apply(open_file(file)?, dir)?);
        }
        Command::Ls {
            target,
            files: true,
            ..
        } => {
            let input = open_input(target.as_deref().map(Path::new))?;
            layer::list_files(input, &mut cli::stdout())?;
        }
        Command::Ls {
            target,
            no_trunc,
            quiet,
            json,
            platform,
            ..
        } => {
            let image = image_arg(target)?;
            let view = match (json, quiet) {
                (true, _) => layer::View::Records,
                (false, true) => layer::View::Quiet { no_trunc },
                (false, false) => layer::View::Table { no_trunc },
            };
            let store = cli.common.store()?;
            layer::list(&store, &image, platform.as_ref(), view, &mut cli::stdout())?;
        }
        Command::Extract {
            image,
            layer: which,
            uncompressed,
            output,
            platform,
        } => {
            let image = image_arg(Some(image))?;
            let store = cli.common.store()?;
            layer::extract(
                &store,
                &image,
                which.as_deref(),
                uncompressed,
                output.as_deref(),
                platform.as_ref(),
            )?;
        }
    }
    Ok(())
}

/// The image an argument names, or the one stdin names for `-` or none.
fn image_arg(arg: Option<String>) -> img_core::error::Result<ImageArg> {
    match arg {
        Some(name) if name != "-" => Ok(ImageArg::Query(name)),
        _ => cli::one_image_from_stdin("img-layer"),
    }
}

/// A layer file, or stdin for `-` or none (refused when a terminal).
fn open_input(path: Option<&Path>) -> img_core::error::Result<Box<dyn Read>> {
    match path.filter(|p| p.as_os_str() != "-") {
        Some(path) => Ok(Box::new(
            File::open(path).io_context(|| format!("opening {}", path.display()))?,
        )),
        None => {
            if io::stdin().is_terminal() {
                return Err(Error::invalid(
                    "no layer given: name a layer file, or pipe one into stdin",
                ));
            }
            Ok(Box::new(io::stdin().lock()))
        }
    }
}

/// The layer file, or stdin as a file (a regular file when redirected
/// from one, so that it can be checked before it is applied).
fn open_file(path: Option<&Path>) -> img_core::error::Result<File> {
    match path.filter(|p| p.as_os_str() != "-") {
        Some(path) => File::open(path).io_context(|| format!("opening {}", path.display())),
        None => {
            if io::stdin().is_terminal() {
                return Err(Error::invalid(
                    "no layer given: name a layer file, or pipe one into stdin",
                ));
            }
            let stdin = std::os::fd::AsFd::as_fd(&io::stdin())
                .try_clone_to_owned()
                .io_context(|| "reading stdin".into())?;
            Ok(File::from(stdin))
        }
    }
}

fn warn_sockets(count: u64) {
    if count > 0 {
        eprintln!("img-layer: warning: {count} socket(s) left out (they cannot be in a layer)");
    }
}

fn warn_applied(report: &img_layers::extract::Report) {
    if report.skipped_devices > 0 {
        eprintln!(
            "img-layer: warning: {} device node(s) not created (creating them needs root)",
            report.skipped_devices
        );
    }
    if report.skipped_xattrs > 0 {
        eprintln!(
            "img-layer: warning: {} extended attribute(s) refused by the file system",
            report.skipped_xattrs
        );
    }
}

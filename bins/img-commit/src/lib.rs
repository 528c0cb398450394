//! img-commit: make a new image from an image and changes (`docker commit`).

use std::io::{BufReader, IsTerminal, Read};
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_cli::announce::{Announce, Mode};
use img_cli::Common;
use img_core::error::{Error, IoContext};
use img_core::platform::Platform;
use img_core::reference::new_name;
use img_store::ImageArg;

/// Make a new image from a container's changes, or an image and changes.
///
/// `img-commit CONTAINER [REPOSITORY[:TAG]]` makes a new image of what the
/// container (made by img-run; its name, ID or ID prefix) changed, as
/// `docker commit` does: its writable layer becomes a layer on top of the
/// container's image (kept uncompressed, as Docker's store keeps it, until
/// img-push gzips it), whiteouts for what it removed, and the history
/// entry says the container's command made it. The mount points img-run
/// makes for the runtime (/proc, /sys, /dev, /etc/hosts, /etc/hostname,
/// /etc/resolv.conf) are not part of it, as Docker's init layer keeps them
/// out; a container that changed nothing adds no layer. A running container
/// is not paused (Docker's default --pause is not supported): what it writes
/// meanwhile may or may not be in the layer. stdin is not read.
///
/// `img-commit IMAGE [REPOSITORY[:TAG]]` (when no container has that name)
/// makes a new image of IMAGE plus a layer tar: on stdin, or from --layer
/// FILE; it is the tar `docker diff` describes (added and changed files,
/// `.wh.NAME` whiteouts for removed ones, `.wh..wh..opq` for opaque
/// directories), as `tar -C dir -c .` or `img-layer diff` make it. The tar
/// may be plain, gzip or zstd (recognised by its first bytes) and is stored
/// as it comes, never recompressed, after checking that it is a complete tar
/// whose paths stay inside the root, whose hard links name paths inside it
/// and whose whiteouts name a plain entry (never `.` or `..`): anything else
/// is refused (exit status 2) and nothing is named. A container whose
/// changes hold such a name (a file called `.wh..`) is refused the same way. A tar with no entries adds no layer, like
/// Docker's commit of an unchanged container (its blob stays unreferenced
/// until img-prune). With --no-layer, stdin is not read and only the -c
/// changes are committed: a history entry marked `empty_layer`; without it,
/// a terminal on stdin is refused, never taken as "no changes". stdin is
/// never read for records: IMAGE is always an argument (name, name@digest,
/// image ID or ID prefix).
///
/// The new image has IMAGE's layers (shared in the store, not copied) and
/// the new one on top; its config is IMAGE's, as Docker builds it: the same
/// platform, the runtime config (Cmd, Env, …) with the -c changes applied
/// (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME,
/// WORKDIR, STOPSIGNAL, in Dockerfile syntax, as img-import and docker
/// commit take them, their words expanded against IMAGE's Env as Docker
/// does, `ENV PATH=/opt/bin:$PATH`; an ENTRYPOINT change drops IMAGE's CMD
/// unless a CMD change comes before it), the new diff_id
/// appended, `created` now (or SOURCE_DATE_EPOCH, for reproducible images),
/// and `author` from -a. The history gets one entry with the author, the -m
/// message as its comment (Docker writes the message there, not in the
/// config's `comment`, which is not inherited from IMAGE; `img-inspect -f
/// '{{.Comment}}'` shows it, as `docker inspect` does), and as
/// `created_by` the command that made it: `img-commit` followed by the
/// changes, e.g. `img-commit --change 'CMD ["sh"]'` (a container's commit
/// will write the container's command, as Docker does). Docker's
/// `container_config` is not written.
///
/// Media types: an OCI base gives an OCI image; a Docker schema 2 base keeps
/// Docker media types (manifest, config, the new layer as
/// `diff.tar.gzip` or `diff.tar`), as BuildKit does, except that a zstd
/// layer, which Docker has no media type for, makes the image OCI (the base
/// layers' Docker media types become their OCI equivalents; the blobs are
/// the same). For a multi-platform IMAGE, the host's image is the base, or
/// the one --platform names.
///
/// The new image is named REPOSITORY[:TAG] (tag `latest` when omitted, an
/// image that had the name keeps its other names or becomes `<none>`), or
/// stays unnamed when no name is given. stdout gets the new image's record,
/// and stderr its ID (`sha256:…`); on a terminal, or with -q, stdout gets
/// the ID alone, what `docker commit` prints (`ID=$(img-commit -q work)`).
#[derive(Debug, Parser)]
#[command(
    name = "img-commit",
    version,
    about = "Make a new image from an image and changes (docker commit)"
)]
#[command(
    after_help = "EXAMPLES:\n  tar -C dir -c . | img-commit base mine:1 -c 'CMD [\"/bin/sh\"]'\n  img-commit --layer changes.tar.zst -m 'add config' -a 'Jane <jane@example.com>' app:1 app:2\n  img-commit --no-layer -c 'ENV DEBUG=1' -c 'EXPOSE 8080' app:2 app:debug\n  img-commit --platform linux/arm64 --layer arm.tar multi:1 multi-arm:1"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message (the new history entry's comment)
    #[arg(short, long)]
    pub message: Option<String>,
    /// Author (e.g. "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Read the layer tar (plain, gzip or zstd) from FILE, - for stdin [default: stdin]
    #[arg(long, value_name = "FILE", conflicts_with = "no_layer")]
    pub layer: Option<PathBuf>,
    /// Add no layer: commit only the -c changes (an empty_layer history entry)
    #[arg(long)]
    pub no_layer: bool,
    /// For a multi-platform IMAGE, the platform to commit onto (os/arch[/variant]) [default: the host's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,
    /// Print the new image's ID alone on stdout, not its record
    #[arg(short, long)]
    pub quiet: bool,
    /// The container (name, ID or ID prefix), or the base image (name, name@digest, image ID or ID prefix)
    #[arg(value_name = "CONTAINER|IMAGE")]
    pub image: String,
    /// The new image's name
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Commit and print the new image's record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let reference = cli.reference.as_deref().map(new_name).transpose()?;
    // Bad usage first: nothing is read before the changes are known good.
    img_builder::commit::check_changes(&cli.changes)?;
    let options = img_builder::commit::Options {
        reference,
        changes: cli.changes,
        message: cli.message,
        author: cli.author,
        platform: cli.platform,
        created_by: None,
    };
    let store = cli.common.store()?;
    if let Ok(container) = img_container::Containers::of(&store).find(&cli.image) {
        if cli.layer.is_some() || cli.no_layer {
            return Err(Error::invalid(format!(
                "{} is a container: its changes are the layer, so --layer and --no-layer do not apply",
                cli.image
            ))
            .into());
        }
        let (target, record) = img_builder::commit::commit_container(&store, &container, &options)?;
        return print(&target, &record, cli.quiet);
    }
    let base = ImageArg::Query(cli.image);
    let stdin = std::io::stdin();
    let mut input: Option<Box<dyn Read>> = match cli.layer {
        _ if cli.no_layer => None,
        Some(file) if file.as_os_str() != "-" => {
            let opened = std::fs::File::open(&file)
                .io_context(|| format!("opening the layer {}", file.display()))?;
            Some(Box::new(BufReader::with_capacity(1 << 20, opened)))
        }
        _ => {
            if stdin.is_terminal() {
                return Err(Error::invalid(
                    "img-commit reads a layer tar from stdin, but stdin is a terminal: \
                     pipe a tar in, give --layer FILE, or --no-layer to commit only -c changes",
                )
                .into());
            }
            img_core::output::widen_pipe(&stdin);
            Some(Box::new(stdin.lock()))
        }
    };
    let (target, record) = img_builder::commit::commit(
        &store,
        &base,
        input.as_mut().map(|r| r.as_mut() as &mut dyn Read),
        &options,
    )?;
    print(&target, &record, cli.quiet)
}

/// The new image's record on stdout and its ID on stderr; on a terminal,
/// or with -q, its ID alone on stdout (what `docker commit` prints).
fn print(
    target: &img_core::image::Target,
    record: &oci_spec::image::Descriptor,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut out = Announce::new(quiet);
    let id = target.id();
    if out.mode() == Mode::Records {
        eprintln!("{id}");
    }
    out.image(id, record, &[id.to_string()])?;
    out.finish()?;
    Ok(())
}

//! img-import: make an image from a root filesystem tar (`docker import`).

use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_cli::announce::{Announce, Mode};
use img_cli::Common;
use img_core::error::{Error, IoContext};
use img_core::platform::Platform;
use img_core::reference::new_name;

/// Make a one-layer image from a root filesystem tar.
///
/// Reads a tar of a root filesystem from FILE, or from stdin when FILE is
/// `-`, and makes it the single layer of a new image, like `docker import`.
/// The tar may be plain, gzip or zstd (recognised by its first bytes); it is
/// stored as it comes, never recompressed, after checking that it is a
/// complete layer tar whose paths all stay inside the root: an entry with
/// `..` leaving it, a hard link out of it, a whiteout of `.` or `..` (`.wh..`,
/// `.wh...`) or an entry of a type no root filesystem has is refused, exit
/// status 2, and nothing is stored. URLs are
/// not fetched: `curl -sL URL | img-import - NAME` does that.
///
/// The new image is named REPOSITORY[:TAG] (tag `latest` when omitted), or
/// stays unnamed (`<none>`) when no name is given. Its config has the
/// platform (`--platform`, default the host's), the comment `Imported from
/// -` as Docker writes it (or the -m MESSAGE), and the changes given with
/// -c, in Dockerfile syntax: CMD, ENTRYPOINT (exec form `["a","b"]` or shell
/// form), ENV (KEY=VALUE… or KEY VALUE), EXPOSE (80, 53/udp, 8000-8010),
/// HEALTHCHECK (NONE, or [--interval=D --timeout=D --start-period=D
/// --start-interval=D --retries=N] CMD …), LABEL KEY=VALUE…, ONBUILD
/// INSTRUCTION, USER, VOLUME, WORKDIR and STOPSIGNAL; `$VAR` in them is
/// expanded as in a Dockerfile, from the ENV changes before them. Set
/// SOURCE_DATE_EPOCH for a reproducible creation time.
///
/// stdout gets the new image's record, and stderr its ID (`sha256:…`); on a
/// terminal, stdout gets the ID alone, which is what `docker import` prints,
/// and so does it with -q, into a pipe too (`ID=$(img-import -q - < x.tar)`).
#[derive(Debug, Parser)]
#[command(
    name = "img-import",
    version,
    about = "Make an image from a root filesystem tar (docker import)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-import rootfs.tar myimage:1\n  cat rootfs.tar.gz | img-import - example/app:latest\n  img-import -c 'CMD [\"/bin/sh\"]' -c 'ENV DEBUG=true' -m 'from tarball' rootfs.tar.zst app:2\n  img-export app:1 | img-import --change 'WORKDIR /srv' - app:flat"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set the commit message (the config's comment)
    #[arg(short, long)]
    pub message: Option<String>,
    /// Print the new image's ID alone on stdout, not its record
    #[arg(short, long)]
    pub quiet: bool,
    /// The image's platform (os/arch[/variant]) [default: the host's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,
    /// The root filesystem tar (plain, gzip or zstd), or - for stdin
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// The new image's name
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Import the tar and print the new image's record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let reference = cli.reference.as_deref().map(new_name).transpose()?;
    let file = cli.file.to_string_lossy().into_owned();
    if file.starts_with("http://") || file.starts_with("https://") {
        return Err(Error::invalid(format!(
            "img-import does not fetch URLs: run `curl -sL {file} | img-import - …`"
        ))
        .into());
    }
    let options = img_builder::import::Options {
        reference,
        changes: cli.changes,
        message: cli.message,
        platform: cli.platform.unwrap_or_else(Platform::host),
        source: "-".to_string(),
        input: file.clone(),
    };
    let store = cli.common.store()?;
    let (target, record) = if file == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(Error::invalid(
                "img-import - reads a tar from stdin, but stdin is a terminal: pipe a tar in",
            )
            .into());
        }
        img_core::output::widen_pipe(&stdin);
        img_builder::import::import(&store, stdin.lock(), &options)?
    } else {
        // Changes are checked before the file is opened: bad usage first.
        for change in &options.changes {
            img_dockerfile::change::apply(&mut Default::default(), change)?;
        }
        let input = std::fs::File::open(&cli.file)
            .io_context(|| format!("opening {}", cli.file.display()))?;
        img_builder::import::import(&store, BufReader::with_capacity(1 << 20, input), &options)?
    };
    let mut out = Announce::new(cli.quiet);
    let id = target.id();
    if out.mode() == Mode::Records {
        eprintln!("{id}");
    }
    // docker import prints the new image's ID.
    out.image(id, &record, &[id.to_string()])?;
    out.finish()?;
    Ok(())
}

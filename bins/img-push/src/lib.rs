//! img-push: send images to a registry (`docker push`).

use clap::{CommandFactory, Parser};

use img_cli::announce::Announce;
use img_cli::progress::Stderr;
use img_cli::{self as cli, Common};
use img_core::error::Error;
use img_core::reference::Reference;
use img_registry::push::{self, PushOptions};
use img_registry::RegistryArgs;

/// Send images to a registry.
///
/// Pushes each IMAGE (a name, name@digest or image ID; or, with no
/// arguments, the records or image IDs or names on stdin, one a line) to
/// the registry its name points at, as `docker push` does — or to DEST with `--to` (one image). A multi-platform
/// index is pushed whole: every platform's image, then the index.
///
/// Each blob is first asked for with HEAD (`Layer already exists`), then
/// mounted from another repository of the same registry when an image in the
/// store was named after one that holds it (`Mounted from …`), and uploaded
/// only otherwise: in one PUT when small (up to 16 MB), else in about four
/// PATCH chunks of 16 to 256 MB (a failed chunk resumes from the bytes the
/// registry says the upload holds; when the registry gave the upload up, the
/// blob is sent again in a new one). Answers 429 and 502/503/504 are
/// retried as img-pull does. Several
/// blobs go at once (`--max-concurrent-uploads`, default 5, as dockerd).
/// Manifests are sent as the exact bytes the store holds, so the digest in
/// the registry is the image's digest in the store. An image with layers
/// img keeps uncompressed (those img-build makes) has them gzipped first,
/// at gzip's default level, as docker push compresses: the image in the
/// store takes that form under all its names (its ID does not change; its
/// digest becomes the pushed one), and the same image always gives the
/// same pushed digest.
///
/// `-a`/`--all-tags` pushes every image the store names with a tag of each
/// repository given (a name without tag or digest), tag by tag, as `docker
/// push -a` does.
///
/// Progress goes to stderr in Docker's words, ending with `TAG: digest:
/// sha256:… size: N`; stdout gets the record of each pushed image, named as
/// pushed, into a pipe or a file (on a terminal, nothing more: the digest
/// line is docker push's last). Credentials, TLS and plain-HTTP rules are
/// img-pull's. A push goes to where registries.conf locates the name (its
/// `[[registry]]` `location`), never to a mirror, and a `blocked` registry
/// is refused (img(7)).
#[derive(Debug, Parser)]
#[command(
    name = "img-push",
    version,
    about = "Send images to a registry (docker push)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-push localhost:5000/app:1\n  img-push app:1 --to registry.example.com/team/app:1\n  img-pull busybox | img-tag localhost:5000/busybox | img-push\n  img-push -a localhost:5000/app"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images to push (name, name@digest or image ID); omit to read them from stdin (records, or image IDs or names, one a line)
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Push to this name instead of the image's own (one image only)
    #[arg(long, value_name = "DEST", conflicts_with = "all_tags")]
    pub to: Option<String>,
    /// Push every tag the store has of each repository named (as docker push -a)
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Print no progress, only the records
    #[arg(short, long)]
    pub quiet: bool,
    /// How many blobs to upload at once
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_uploads: u16,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Push every image and print its record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let to = cli.to.as_deref().map(Reference::parse).transpose()?;
    if cli.all_tags {
        return push_all_tags(&cli);
    }
    let images = cli::images_from(&cli.images)?;
    if to.is_some() && images.len() != 1 {
        return Err(Error::invalid(format!(
            "--to names one destination, but {} images were given",
            images.len()
        ))
        .into());
    }
    let options = PushOptions {
        max_concurrent_uploads: usize::from(cli.max_concurrent_uploads),
        client: cli.registry.options()?,
    };
    let store = cli.common.store()?;
    let progress = Stderr::new(cli.quiet);
    let mut out = Announce::new(false);
    for image in &images {
        let found = image.resolve(&store)?;
        let dest = match (&to, &found.reference) {
            (Some(to), _) => to.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => {
                return Err(Error::invalid(format!(
                    "{} has no name to push it under: give --to REGISTRY/REPOSITORY:TAG, or img-tag it first",
                    image.display()
                ))
                .into())
            }
        };
        let pushed = push::push(&store, &found.target, &dest, &options, &progress)?;
        // On a terminal, the progress's digest line is docker push's last.
        out.image(found.target.id(), &pushed.record, &[])?;
    }
    out.finish()?;
    Ok(())
}

/// `--all-tags`: every tagged image of each repository named.
fn push_all_tags(cli: &Cli) -> anyhow::Result<()> {
    if cli.images.is_empty() {
        return Err(Error::invalid("--all-tags needs a repository name").into());
    }
    let options = PushOptions {
        max_concurrent_uploads: usize::from(cli.max_concurrent_uploads),
        client: cli.registry.options()?,
    };
    let store = cli.common.store()?;
    let progress = Stderr::new(cli.quiet);
    let mut out = Announce::new(false);
    for name in &cli.images {
        for (dest, target) in push::tagged(&store, name)? {
            let pushed = push::push(&store, &target, &dest, &options, &progress)?;
            out.image(target.id(), &pushed.record, &[])?;
        }
    }
    out.finish()?;
    Ok(())
}

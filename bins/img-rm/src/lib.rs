//! img-rm: untag and delete images (`docker rmi`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common};
use img_ops::rm::{self as remove, Options};

/// Untag and delete images.
///
/// Removes images as `docker rmi` does. Given a name, removes that name
/// (`Untagged: busybox:latest`); when it was the image's last name, the image
/// is deleted (`Deleted: sha256:…`, its ID) and so are the layers no other
/// image uses (`Deleted: sha256:…` for each, top first, by chain ID, as
/// Docker names them; Docker's containerd image store prints no layer
/// lines). Given an image ID (or a
/// prefix of one) or `name@digest`, deletes the image with its name; an
/// image that has several tags, or names in several repositories, is only
/// deleted with `-f`, which removes all its names (in the order of their
/// full names, as Docker untags them). An image that a
/// container of img-run was made from keeps its last name unless `-f`, as
/// Docker's does (`img-prune --containers` removes stopped containers).
///
/// With no IMAGE arguments, reads the images from stdin, one a line: a
/// record with a name removes that name, a record without one deletes the
/// image by digest (`img-ls --json --filter dangling=true | img-rm`), and
/// a line holding an image ID or name is taken as that argument would be
/// (`img-ls -q --filter dangling=true | img-rm`).
///
/// With --container (-c), the arguments are containers instead, removed
/// as `docker rm` removes them: the container's directory with its
/// writable layer and log; a running one only with -f, which kills it
/// first. img-rm stays `docker rmi` because images are what img is about;
/// containers are the one other thing it removes, named by a flag as
/// img-ls --containers and img-prune --containers name them, rather than
/// by a program whose name would read as "remove images" to img's users
/// and as "remove containers" to Docker's.
///
/// Each image is handled on its own: an error is reported and the others are
/// still removed; the exit status is then 1. Layers that another program
/// is writing to the store at that moment may hold are left for img-prune.
#[derive(Debug, Parser)]
#[command(
    name = "img-rm",
    version,
    about = "Untag and delete images (docker rmi)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-rm mybusybox\n  img-rm -f 018c9d7b792b\n  img-ls -q --filter dangling=true | xargs -r img-rm\n  img-ls --json --filter dangling=true | img-rm"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Images to remove (name, name@digest, ID or ID prefix; containers with -c); omit to read them from stdin (records, or image IDs or names, one a line)
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove an image that several names share, with all its names (with -c: a running container)
    #[arg(short, long)]
    pub force: bool,
    /// Keep the layers of deleted images
    #[arg(long)]
    pub no_prune: bool,
    /// Remove containers (docker rm): -f kills a running one first
    #[arg(short, long, alias = "containers", conflicts_with = "no_prune")]
    pub container: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Remove the images, printing what was untagged and deleted.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.container {
        return remove_containers(&cli);
    }
    let images = cli::images_from(&cli.images)?;
    let store = cli.common.store()?;
    let options = Options {
        force: cli.force,
        no_prune: cli.no_prune,
    };
    let mut out = cli::stdout();
    let result = cli::for_each_image("img-rm", &images, |image| {
        let outcomes = remove::remove(&store, image, options)?;
        for outcome in outcomes {
            writeln!(out, "{outcome}")
                .and_then(|_| out.flush())
                .map_err(|e| img_core::Error::io("writing to stdout", e))?;
        }
        Ok(())
    });
    out.flush()?;
    result.map(|_| ())
}

/// `docker rm`: each container removed, its name printed as given.
fn remove_containers(cli: &Cli) -> anyhow::Result<()> {
    if cli.images.is_empty() {
        anyhow::bail!(img_core::Error::invalid(
            "no container given: img-rm --container CONTAINER..."
        ));
    }
    let store = cli.common.store()?;
    let mut failed = false;
    for query in &cli.images {
        let removed = img_container::Containers::of(&store)
            .find(query)
            .and_then(|c| img_container::control::remove(&store, &c, query, cli.force));
        match removed {
            Ok(()) => println!("{query}"),
            Err(e) => {
                cli::print_error("img-rm", &e.into());
                failed = true;
            }
        }
    }
    if failed {
        return Err(cli::Exit(1).into());
    }
    Ok(())
}

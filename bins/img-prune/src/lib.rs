//! img-prune: remove unused images and the store's leftovers
//! (`docker image prune`; with --system, `docker system prune`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli::{self as cli, Common, Reported};
use img_ops::prune::{self, Filters, Options};
use img_store::BuildCache;

/// Remove unused images and the store's leftovers.
///
/// Removes dangling images as `docker image prune` does: images without a
/// name, the ones `img-ls --filter dangling=true` lists. With `-a`, removes
/// every image that no container uses (that passes the filters). An image a
/// container (of img-run) was made from is never removed. With
/// `--containers`, first removes every stopped container and its writable
/// layer, as `docker container prune` (and `docker system prune`) does;
/// containers an img-run is running are kept. img keeps no
/// intermediate images (it sees the store as Docker's containerd image store
/// does), so an unnamed image is dangling even when another image shares its
/// layers; pruning it removes only the blobs no other image uses.
///
/// Filters, as Docker's: `until=TIMESTAMP` prunes only images created at or
/// before that time, which is an RFC 3339 time (`2026-11-22T12:00:00Z`, or
/// shorter: `2026-11-22T12:00`, `2026-11-22`; local time without a zone), a
/// Unix timestamp, or a Go duration counted back from now (`24h`, `1h30m`,
/// `10m`); images without a creation time are kept. `label=KEY` or
/// `label=KEY=VALUE` prunes only images whose config carries that label
/// (several must all match); `label!=KEY` or `label!=KEY=VALUE` keeps the
/// images that carry it.
///
/// Then it cleans the store, as `docker system prune` does for Docker: blobs
/// that no image reaches (left by an interrupted load, or by an img-rm that
/// found the store busy), temporary files of writes that never finished, and
/// the partial downloads of an interrupted img-pull that no pull continued
/// for 24 hours (younger ones wait for the next pull to resume them). With
/// `--system` or `-a`, every partial download goes, whatever its age: that
/// is how the space a pull that filled the disk left behind is reclaimed at
/// once (`img-prune --system -f`). One that a running img-pull holds is
/// always kept.
///
/// When other programs are writing to the store, img-prune waits for them
/// to finish before it collects, and programs that start writing meanwhile
/// wait behind it, so that a steady stream of writers cannot starve it.
/// It waits at most 60 seconds (`$IMG_GC_WAIT`, in seconds): then it names
/// the programs it waited for, collects nothing, lets the waiting writers
/// go on, and exits 1 (the images it removed stay removed; their blobs go
/// at the next img-prune).
///
/// With `--build-cache`, also removes img-build's whole cache, as `docker
/// builder prune -a` does: every cached step (later builds make them anew)
/// and every `RUN --mount=type=cache` directory. Without it, only cache
/// entries whose layers are gone are dropped.
///
/// `--system` is `docker system prune`: stopped containers, dangling images
/// (with `-a`, every image no container uses) and the unused build cache —
/// the cache mounts and the cached steps whose layers no image keeps (with
/// `-a`, all of it). img has no networks or volumes to prune.
///
/// Prints, on stdout as Docker does: `Deleted Containers:` and their IDs
/// (with --containers or --system), `Deleted Images:`, then `untagged:
/// NAME` for each name removed and `deleted: sha256:…` for each image ID,
/// its layers removed (by chain ID), and any other blob removed (by digest), `Deleted build cache
/// objects:` and their IDs (with --build-cache or --system); then
/// `Total reclaimed space: SIZE`, counting every blob, temporary file,
/// partial download, container and cache entry removed.
///
/// Without `-f` it asks first, on stderr (`WARNING! This will remove all
/// dangling images.` then `Are you sure you want to continue? [y/N]`; for
/// --system, --containers or --build-cache Docker's list, `WARNING! This
/// will remove:` then `  - all stopped containers`, `  - all dangling
/// images`, `  - unused build cache`, and the filters given); only `y`
/// goes on. When stdin is not a terminal nobody can answer, so without
/// `-f` it refuses (exit 2) and changes nothing: scripts and cron jobs say
/// `-f`.
#[derive(Debug, Parser)]
#[command(
    name = "img-prune",
    version,
    about = "Remove unused images, unreferenced blobs and abandoned downloads (docker image prune, docker system prune)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-prune\n  img-prune -f\n  img-prune -a -f --filter until=24h\n  img-prune -f --filter label=stage=build --filter label!=keep\n  img-prune -f --containers\n  img-prune --system -f"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Remove all stopped containers first (docker container prune)
    #[arg(long)]
    pub containers: bool,
    /// Remove img-build's whole cache too: its steps and RUN cache mounts (docker builder prune -a)
    #[arg(long)]
    pub build_cache: bool,
    /// Remove stopped containers, dangling images (-a: every unused image) and unused build cache (-a: all of it), as docker system prune
    #[arg(long)]
    pub system: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values: until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE]
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Ask (unless `-f`), prune, and print Docker's report.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let build_cache = match (cli.system, cli.all) {
        _ if cli.build_cache => BuildCache::All,
        (true, true) => BuildCache::All,
        (true, false) => BuildCache::Unused,
        (false, _) => BuildCache::Keep,
    };
    let options = Options {
        all: cli.all,
        filters: Filters::parse(&cli.filter, img_core::format::now())?,
        containers: cli.containers || cli.system,
        build_cache,
        every_partial: cli.all || cli.system,
    };
    let store = cli.common.store()?;
    if !cli.force && !cli::confirm(&options.warning(), "add -f to prune without asking")? {
        return Ok(());
    }
    let report = prune::prune(&store, &options)?;
    let mut out = cli::stdout();
    out.write_all(report.render().as_bytes())?;
    out.flush()?;
    let failed = report.failures.len();
    for failure in report.failures {
        eprintln!("img-prune: error: {:#}", anyhow::Error::new(failure));
    }
    if failed > 0 {
        return Err(Reported { code: 1, failed }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_states_how_long_partial_downloads_are_kept() {
        let hours = img_store::PARTIAL_MAX_AGE.as_secs() / 3600;
        let help = command()
            .get_long_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            help.contains(&format!("for {hours} hours")),
            "the long help must say PARTIAL_MAX_AGE ({hours} hours)"
        );
    }
}

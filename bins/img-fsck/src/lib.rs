//! img-fsck: verify the image store, and repair it (`--repair`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_check::{Class, Options, Report};
use img_cli::progress::Stderr;
use img_cli::{self as cli, Common, Exit};
use img_core::format::human_size_precision;

/// Verify the image store, and repair it.
///
/// Checks the whole store: every blob hashes to the digest that names it
/// (every core hashing, the largest blobs first); every name in index.json
/// reaches a whole image — its manifest (or index, and each of the index's
/// manifests the store holds; an index must hold at least one), config and
/// layers, each present with the declared size, manifests and configs
/// parsing, one diff_id per layer; every unpacked layer (snapshot, used by
/// img-run and img-build) is the same as its layer unpacked afresh, whose
/// tar is hashed against the diff_id on the way; every container's record
/// against its image; and it finds what interrupted programs left: the
/// temporary files of writes that never finished, partial downloads that no
/// pull continued for 24 hours (younger ones wait to be resumed and are no
/// problem; img-prune --system removes them), the directories of builds and
/// unpacks that never finished, container records that say a container runs
/// whose process is gone, and the runtime's state of containers whose owner
/// died (.img/runtime/) and removed containers' directories that could not
/// be deleted (.img/trash/) — opening the store, as every program does,
/// ends and deletes those already, so what is found is what that could
/// not. With `--deep`,
/// also decompresses every layer and hashes its tar against the diff_id its
/// config gives.
///
/// Prints one line per problem on stderr, `img-fsck: damaged: …` for
/// damage and `img-fsck: leftover: …` for space nobody will use, and one
/// record per damaged image on stdout (the image's index.json entry, as
/// img's other programs print records: `img-fsck | jq -r
/// '.annotations["org.opencontainers.image.ref.name"]'` lists them, to pull
/// again). Then a summary line, unless `-q`. Exits 1 when it found any
/// problem, 0 when the store is sound.
///
/// With `--repair`, it fixes what it found, saying what it does: removes
/// corrupt blobs (and anything in blobs/sha256/ that is no blob) and the
/// names of every image that needs one of them or is otherwise damaged
/// (`untagged: NAME`, `deleted: sha256:…`: pull or load those images
/// again), drops snapshots that differ from their layers (they are unpacked
/// again when needed; one a running container uses is left), removes the
/// leftovers, ends containers whose owner died (their processes and
/// runtime state) and marks records whose process is gone exited (255). It exits 0 when the store is sound
/// afterwards, 1 when something was left (said why, and what to do).
///
/// Safe beside running programs: the check holds the store's gc lock
/// shared, as every writer does, so no garbage collection removes what it
/// looks at, and it judges the temporary files writers own only when no
/// writer is running. A repair holds the lock exclusively, as img-prune
/// does: it waits at most 60 seconds (`$IMG_GC_WAIT`) for running writers,
/// and programs that start writing meanwhile wait behind it.
#[derive(Debug, Parser)]
#[command(
    name = "img-fsck",
    version,
    about = "Verify the image store, and repair it (--repair)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-fsck\n  img-fsck --deep\n  img-fsck --repair\n  img-prune -f && img-fsck -q            (a nightly cron job)\n  img-fsck | jq -r '.annotations[\"org.opencontainers.image.ref.name\"] // empty' | xargs -r -n1 img-pull"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Fix what was found: remove corrupt blobs and the names that need them, broken snapshots, leftovers
    #[arg(long)]
    pub repair: bool,
    /// Also decompress every layer and check its tar against the config's diff_id
    #[arg(long)]
    pub deep: bool,
    /// Print only the problems (no progress, no summary)
    #[arg(short, long)]
    pub quiet: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Check (and repair), print what was found, exit 1 on a problem.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let options = Options {
        repair: cli.repair,
        deep: cli.deep,
    };
    let store = cli.common.store()?;
    let report = img_check::fsck(&store, &options, &Stderr::new(cli.quiet))?;
    let mut out = cli::stdout();
    for record in &report.damaged {
        img_core::record::write(&mut out, record)?;
    }
    out.flush()?;
    let mut err = std::io::stderr().lock();
    for problem in &report.problems {
        writeln!(err, "img-fsck: {}: {}", problem.class, problem.text)?;
    }
    for line in &report.repaired {
        writeln!(err, "img-fsck: {line}")?;
    }
    for line in &report.left {
        writeln!(err, "img-fsck: not repaired: {line}")?;
    }
    if !cli.quiet {
        for note in &report.notes {
            writeln!(err, "img-fsck: note: {note}")?;
        }
        writeln!(err, "img-fsck: {}", summary(&report, cli.repair))?;
    }
    if report.is_clean(cli.repair) {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

/// `checked 12 blobs (1.3GB), 4 images, 2 snapshots, 1 container: …`
fn summary(report: &Report, repaired: bool) -> String {
    let c = &report.checked;
    let plural = |n: usize, one: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {one}s"),
    };
    let mut line = format!(
        "checked {} ({}), {}, {}, {}",
        plural(c.blobs, "blob"),
        human_size_precision(c.bytes, 4),
        plural(c.images, "image"),
        plural(c.snapshots, "snapshot"),
        plural(c.containers, "container"),
    );
    let count = |class: Class| report.problems.iter().filter(|p| p.class == class).count();
    let (damaged, leftovers) = (count(Class::Damage), count(Class::Leftover));
    if damaged + leftovers == 0 {
        line.push_str(": no problems");
        return line;
    }
    line.push_str(&format!(
        ": {} ({damaged} damaged, {leftovers} leftovers)",
        plural(damaged + leftovers, "problem")
    ));
    line.push_str(match (repaired, report.left.len()) {
        (false, _) => "; img-fsck --repair fixes them",
        (true, 0) => "; all repaired",
        (true, _) => "; some could not be repaired (see above)",
    });
    line
}

//! img-build: build an image from a Dockerfile (`docker build`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use img_builder::mounts::Secret;
use img_builder::remote_cache::{Export, Import};
use img_cli::announce::Announce;
use img_cli::progress::Stderr;
use img_cli::Common;
use img_container::execute::{Settings, Stdout};
use img_container::runtime;
use img_container::spec::{Isolation, Network};
use img_core::error::{Error, IoContext};
use img_core::reference::new_name;
use img_registry::pull::PullOptions;
use img_registry::{MirrorArgs, RegistryArgs};
use img_runner::run::PullPolicy;

/// Build an image from a Dockerfile.
///
/// Builds the image PATH/Dockerfile (or -f FILE) describes, with PATH as the
/// build context, as `docker build` does, and names it with each -t. Every
/// Dockerfile instruction is read as Docker's builder reads it (parser
/// directives, `\` or backtick continuations, heredocs, JSON and shell
/// forms, ARG/ENV expansion with `${VAR:-default}` and the other forms,
/// multi-stage builds with `AS name`, `COPY --from`, `--target`); FROM
/// images missing from the store are pulled (always with --pull, asking
/// with HEAD first, so that a base the registry still names is not
/// downloaded again; through registries.conf's mirrors and locations, and
/// `--registry-mirror`, as img-pull). Only the stages the target needs are
/// built (those its FROM, COPY --from and RUN --mount from= name, and
/// theirs); stages that do not need each other are built at the same time,
/// as BuildKit builds them, and printed one after the other in the
/// Dockerfile's order with the step numbers of a build one stage at a time
/// (a stage's lines, its RUN output too, wait until the stages before it
/// are printed; RUN containers run one at a time). FROM and --target find a stage by its name only (`FROM 0` is an
/// image); COPY --from and RUN --mount from= also take its index; a --from
/// with a variable is refused (BuildKit's workaround: a stage `FROM
/// ${ARG}`). Every stage whose config has no PATH gets Docker's default
/// one; a `FROM scratch` stage also has the working directory `/`, as with
/// BuildKit.
///
/// RUN runs its command in a container on the image built so far, through
/// runc or crun as img-run does (root needed), with the host's network
/// (`RUN --network=none` for none) and the build arguments in its
/// environment; its output goes to stderr. A RUN that is a lone heredoc
/// starting with `#!` runs as a program of its own (/dev/pipes/NAME). COPY
/// and ADD copy from the context or from another stage or image, keeping
/// modes and times, owned by root unless --chown (a user ID is also the
/// group; a name missing from the image's /etc/passwd is root, as with
/// BuildKit); ADD also unpacks local tar archives and downloads URLs.
/// Nothing is written outside the image's root filesystem, whatever links
/// the image or an archive holds (they are followed inside it); an archive
/// or FROM image with an entry leaving its root, or a whiteout of `.` or
/// `..`, fails the build (exit status 2), and so does a step whose files
/// would make such a whiteout in its layer (a file named `.wh..`).
/// WORKDIR makes its directory (with parents, mode 0755, owned by the
/// stage's USER). MAINTAINER sets the image's author (deprecated; img-commit
/// --change refuses it, as docker commit does). Every other instruction
/// changes the config as Docker's do. Each RUN, COPY, ADD and WORKDIR adds a
/// layer, an empty one when it changed nothing, as Docker's builders do.
/// New layers are kept uncompressed in the store, as Docker's and buildah's
/// stores keep them (written to disk in the background while the next
/// steps run; the image is written when every layer is): img-push and
/// --cache-to gzip them when they leave the machine. History entries are
/// written as BuildKit writes them (`RUN |1 A=1
/// /bin/sh -c … # buildkit`, `ARG A=1`, `CMD ["sh"]`; ONBUILD makes none).
///
/// `.dockerignore` (or `Dockerfile.dockerignore` beside the Dockerfile)
/// leaves files out of the context exactly as current BuildKit's context
/// transfer does: patterns matched down the walk as its patternmatcher
/// does, an excluded directory entered only when an exception may bring
/// something back, which then comes with its parent directories. A COPY of
/// what it leaves out fails (`"/dir": not found`).
///
/// Reproducible builds: with --source-date-epoch (or SOURCE_DATE_EPOCH),
/// every time later than the epoch is written as the epoch — file times in
/// the layers the build writes (BuildKit's rewrite-timestamp), history and
/// creation times — so the same Dockerfile, context and base give the same
/// image ID on any machine and any day. The base image's times are kept.
///
/// Steps are cached: a step made before from the same image, with the same
/// instruction, build arguments and (for COPY and ADD) file contents is not
/// made again (` ---> Using cache`), and a build whose every step is cached
/// gives the same image ID again. --no-cache makes every step anew. The
/// cache lives in the store (`.img/build-cache`); steps whose layers
/// img-prune removed are made again.
///
/// The cache can be shared between machines, as BuildKit shares it.
/// --cache-to writes the steps of this build after it: type=registry,ref=
/// NAME[:TAG] (an OCI image manifest with BuildKit's cache config media type,
/// which registries that take BuildKit caches take; blobs the registry has
/// are not sent again, those another repository of it has are mounted),
/// type=local,dest=DIR (an OCI image layout; blobs no cache in it uses any
/// more are removed), or type=inline (in the image's config, for
/// --cache-from to name the pushed image). mode=min (the default) writes the
/// final image's steps with their layers and the other stages' steps as keys
/// only; mode=max writes every stage's layers, so that another --target is
/// built from the cache too. compression=gzip|zstd|uncompressed converts the
/// layers that are compressed otherwise (without it, the layers kept
/// uncompressed are gzipped, as BuildKit exports them). cache-mounts=true also writes the
/// contents of the RUN --mount=type=cache directories the build names, and,
/// on --cache-from, fills such a directory from the cache when it is empty
/// and a step that uses it is made. A failed export is an error (after the
/// image is built and named) unless ignore-error=true.
///
/// --cache-from CACHE (repeatable: type=registry,ref=NAME[:TAG], or NAME[:TAG]
/// alone, or type=local,src=DIR[,tag=TAG]) is read before the build; steps
/// are looked up in the store's cache first, then in each in order. A cache
/// that cannot be read (registry down, no such tag, malformed) is a warning,
/// never an error. Only manifests and configs are read up front; a hit's
/// layers are downloaded when a later step, a COPY --from or the image
/// needs them, so a build whose every step hits downloads the final image's
/// layers and nothing else. A COPY --from is found by the stage it copies
/// from before its files are read. With --cache-from each step says where it
/// was found (` ---> Using cache from NAME`) or why not (` ---> Cache miss:
/// the files it copies changed`, `the step before it was made anew`, `the
/// instruction changed`, …). A build that must make a step on a hit whose
/// layers no cache holds (another stage of a mode=min cache) starts over,
/// taking only the hits whose layers can be had. Registries are reached as
/// img-pull and img-push reach them: --creds, stored credentials,
/// --tls-verify, --cert-dir, registries.conf mirrors and locations. img.7
/// describes the format and the step keys.
///
/// Progress goes to stderr in the classic builder's words (`Step 2/5 : RUN
/// …`, ` ---> Running in …`, ` ---> Using cache`, ` ---> ID` (after FROM,
/// the base image's own ID), `Successfully built ID`, `Successfully tagged
/// NAME`); -q prints none of
/// it, nor what RUN commands write to stdout (what they write to stderr
/// still shows, so that a failing step says why). stdout gets the image's
/// record (named by the first -t) into a pipe or a file, nothing on a
/// terminal, and with -q the image ID alone, as `docker build -q` prints it
/// (`ID=$(img-build -q .)`); --iidfile writes the ID to a file. A failed step stops the build
/// with one error line naming the Dockerfile line, and names nothing.
///
/// The build stops as BuildKit stops one. The first stage that fails stops
/// the stages built beside it: their RUN steps' processes are killed, not
/// waited for, and the error is the failed stage's. SIGINT or SIGTERM
/// stops the build the same way (a RUN step's process is killed, not sent
/// the signal, which PID 1 of its namespace may ignore); img-build then
/// ends with status 1 and `context canceled` naming the signal, having
/// removed the build's directories and mounts and named no image. A step
/// that runs no process (COPY, ADD, the pull of a base image, a cache's
/// fetch or export, a layer written into the store) stops within a buffer
/// of its copy, the same way: a pull's partial download is kept in the
/// store's ingest area for the next pull to resume, other temporary files
/// are removed. A signal while the cache is exported comes after the image
/// is named, as in BuildKit, and leaves it named. A step waiting on a peer
/// that sends nothing (an ADD's server that never answers) is not waited
/// for: img-build ends 5 seconds after the signal all the same, status 1,
/// its directories left for the next program to sweep. A second SIGINT or
/// SIGTERM ends img-build at once with 128 + the signal (the guards of its
/// containers end them, as after kill -9).
///
/// `RUN --mount` takes BuildKit's bind (from the context, a stage or an
/// image; `rw` writes are thrown away), cache (kept in the store between
/// builds, per `id`), tmpfs and secret (`--secret id=NAME,src=FILE`, never
/// in the image, its history or the cache key) mounts; mount points the
/// runtime had to make are not part of the layer.
///
/// Docker's own engine is the reference: img's test suite builds each of
/// its Dockerfile cases with img-build and with `docker build` and compares
/// root filesystems and configs. Where Docker 20.10 and current Docker
/// differ, img follows current Docker (ARG history shows the value taken,
/// --chown and --chmod are in the history, EXPOSE's history is a list,
/// .dockerignore exceptions reach into excluded directories, RUN --mount
/// leaves no mount points behind). img differs on purpose in one way: no
/// RUN leaves the empty /dev, /proc and /sys it ran with in its layer
/// (BuildKit's do): a container gets them when it starts.
///
/// PATH `-` reads stdin: a Dockerfile (and there is no context), or a tar
/// of the context (plain, gzip or zstd), whose Dockerfile is -f FILE inside
/// it or `Dockerfile` (`tar -c . | img-build -t app -`); `-f -` reads the
/// Dockerfile from stdin with PATH the context. Not supported (yet): ssh
/// mounts, other platforms than this machine's, git and URL contexts, the
/// gha, s3 and azblob cache types.
#[derive(Debug, Parser)]
#[command(
    name = "img-build",
    version,
    about = "Build an image from a Dockerfile (docker build)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-build -t app:1 .\n  img-build -t app:1 --cache-from reg.example/app:cache --cache-to type=registry,ref=reg.example/app:cache,mode=max .\n  img-build -f docker/Dockerfile.prod -t app:prod --build-arg VERSION=1.2 .\n  img-build --target builder -t app:builder .\n  img-build -q . | img-push --to localhost:5000/app:1\n  ID=$(img-build -q .) && img-run --rm $ID\n  img-build -t hello - < Dockerfile"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
    /// Name the image (name:tag; repeatable)
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// The Dockerfile [default: PATH/Dockerfile, or Dockerfile in a context tar]; - for stdin
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set a build argument (NAME=VALUE, or NAME for img-build's own value)
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build this stage (its AS name) and what it needs, not the last
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Make every step anew, ignoring the build cache
    #[arg(long)]
    pub no_cache: bool,
    /// Always pull FROM images, even when the store has them
    #[arg(long)]
    pub pull: bool,
    /// Add a label to the image (KEY=VALUE; repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The network of RUN steps: host or none
    #[arg(long, default_value = "host", value_parser = ["host", "none", "default"], value_name = "MODE")]
    pub network: String,
    /// The OCI runtime for RUN (runc, crun, or a path) [default: $IMG_RUNTIME, else the first of runc and crun that works]
    #[arg(long, value_name = "RUNTIME", env = "IMG_RUNTIME")]
    pub runtime: Option<String>,
    /// Write the image ID to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// A secret for RUN --mount=type=secret: id=NAME,src=FILE (or env=VAR)
    #[arg(long = "secret", value_name = "id=NAME,src=FILE")]
    pub secrets: Vec<String>,
    /// Look steps up in this cache too, after the store's own: type=registry,ref=NAME[:TAG] (or NAME[:TAG] alone: a cache, or an image built with --cache-to type=inline), or type=local,src=DIR[,tag=TAG]; cache-mounts=true fills empty cache mounts from it (repeatable)
    #[arg(long = "cache-from", value_name = "CACHE")]
    pub cache_from: Vec<String>,
    /// Write this build's cache: type=registry,ref=NAME[:TAG], type=local,dest=DIR[,tag=TAG], or type=inline; options mode=min|max, compression=gzip|zstd|uncompressed, ignore-error=true, cache-mounts=true (repeatable)
    #[arg(long = "cache-to", value_name = "CACHE")]
    pub cache_to: Vec<String>,
    /// Write every time later than EPOCH (seconds since 1970) as EPOCH: file times in the layers built, history and creation times [default: $SOURCE_DATE_EPOCH]
    #[arg(long, value_name = "EPOCH", env = "SOURCE_DATE_EPOCH", value_parser = parse_epoch)]
    pub source_date_epoch: Option<i64>,
    /// Print no progress, nor RUN commands' stdout; print the image ID alone
    #[arg(short, long)]
    pub quiet: bool,
    /// The build context directory; - to read a Dockerfile or a context tar from stdin
    #[arg(value_name = "PATH")]
    pub context: PathBuf,
}

fn parse_epoch(text: &str) -> Result<i64, String> {
    img_builder::clock::Clock::parse_epoch(text).map_err(|e| e.to_string())
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Build, name, and print the image's record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let tags = cli
        .tags
        .iter()
        .map(|t| new_name(t))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = cli
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Ok((l.clone(), String::new())),
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let input = img_builder::input::read(&cli.context, cli.file.as_deref())?;
    let secrets = cli
        .secrets
        .iter()
        .map(|s| Secret::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = Settings {
        isolation: Isolation {
            network: Network::parse(&cli.network),
            ..Isolation::default()
        },
        interactive: false,
        tty: false,
        runtimes: runtime::candidates(cli.runtime.as_deref())?,
        // The library sets it from the store.
        runtime_dir: PathBuf::new(),
        stdout: if cli.quiet {
            Stdout::Null
        } else {
            Stdout::Stderr
        },
        // A RUN step's writable layer becomes a blob (synced as every
        // blob is) and a snapshot (not synced, as an unpacked one is not):
        // unmounting it must not sync the whole file system, which under
        // load kept a killed build's step dying for over 10 s.
        volatile: true,
        remove: false,
    };
    let options = img_builder::Options {
        dockerfile: input.dockerfile.clone(),
        dockerfile_name: input.dockerfile_name.clone(),
        context: input.context.clone(),
        ignore: input.ignore.clone(),
        tags,
        build_args: cli.build_args,
        target: cli.target,
        no_cache: cli.no_cache,
        pull: if cli.pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        },
        pull_options: PullOptions {
            platform: None,
            all_platforms: false,
            max_concurrent_downloads: 3,
            client: cli.mirrors.options(&cli.registry)?,
        },
        labels,
        settings,
        quiet: cli.quiet,
        secrets,
        cache_from: cli
            .cache_from
            .iter()
            .map(|c| Import::parse(c))
            .collect::<Result<_, _>>()?,
        cache_to: cli
            .cache_to
            .iter()
            .map(|c| Export::parse(c))
            .collect::<Result<_, _>>()?,
        source_date_epoch: cli.source_date_epoch,
    };
    let root = cli.common.root_dir();
    let progress = Stderr::new(cli.quiet);
    let built = img_builder::build(&root, &options, &progress)?;
    if let Some(path) = &cli.iidfile {
        std::fs::write(path, built.target.id().to_string())
            .io_context(|| format!("writing {}", path.display()))?;
    }
    // Into a pipe the record, with -q the ID alone (docker build -q); on a
    // terminal nothing: the progress said it all, as BuildKit's does.
    let mut out = Announce::new(cli.quiet);
    out.image(built.target.id(), &built.record, &[])?;
    out.finish()?;
    Ok(())
}

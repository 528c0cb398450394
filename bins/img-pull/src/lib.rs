//! img-pull: fetch images from a registry (`docker pull`).

use clap::{CommandFactory, Parser};

use img_cli::announce::Announce;
use img_cli::progress::Stderr;
use img_cli::Common;
use img_core::platform::Platform;
use img_core::reference::Reference;
use img_registry::pull::{self, PullOptions};
use img_registry::{MirrorArgs, RegistryArgs};

/// Fetch images from a registry.
///
/// Pulls each image REF names into the store, as `docker pull` does, and
/// prints its record on stdout; on a terminal, its full name instead
/// (`docker.io/library/busybox:latest`), as Docker ends a pull. Names are normalized like Docker's
/// (`busybox` is `docker.io/library/busybox:latest`); `NAME@sha256:…` pulls
/// by digest.
///
/// For a multi-platform image the host's platform is chosen (`--platform`
/// picks another) and the store names that platform's image; with
/// `--all-platforms`, or when the reference pins the index's digest, the index
/// is kept and named. An index lists image manifests, one level deep as
/// `docker pull` reads it: an entry that is itself an index (a chain of
/// indexes) is refused, naming both digests. Manifests are negotiated in
/// OCI and Docker schema 2 formats; schema 1 is refused. Every manifest and blob is verified against
/// its digest before the store holds it, and blobs already in the store are
/// not downloaded again. Each layer downloaded is also checked as a layer
/// tar while it arrives, on a thread of its own: one with an entry leaving
/// the root (`..`), a hard link out of it or a whiteout of `.` or `..` is
/// refused (exit status 2), and the image is not named. Layers already in
/// the store are not read again here; unpacking checks every layer anyway.
///
/// Where from: registries.conf (the file podman, buildah and skopeo read:
/// `$CONTAINERS_REGISTRIES_CONF`, else `~/.config/containers/registries.conf`,
/// else `/etc/containers/registries.conf`, and the `registries.conf.d`
/// drop-ins; see img(7)) may give a name's registry another `location`,
/// mirrors to try first (`[[registry.mirror]]`, with `pull-from-mirror =
/// all|digest-only|tag-only`), `insecure = true` (plain HTTP and unverified
/// TLS) or `blocked = true` (the pull is refused). `--registry-mirror URL`
/// adds a Docker Hub mirror for this run, tried before the configured ones,
/// as dockerd's registry-mirrors. A tag is resolved only where tags may be,
/// and what it names is fetched by digest from there and from every mirror
/// that serves digests, then from the registry. A mirror that cannot be
/// reached, lacks the image or sends bytes with the wrong digest is passed
/// over with a warning (`WARNING: mirror …`, also with -q); the image is
/// named as asked, whatever endpoint served it.
///
/// A tag is first asked for with HEAD, which downloads nothing (Docker Hub
/// does not count it as a pull): when the store already holds what it names
/// (for a multi-platform tag, the chosen platform's image), nothing more is
/// requested and the pull says `Status: Image is up to date for NAME`; else
/// `Status: Downloaded newer image for NAME`, as Docker says when the name
/// moved. A pull by digest that the store holds sends no request at all.
///
/// Downloads are resumable: bytes that arrived are kept in the store's
/// ingest area (`.img/ingest/partial-*`, removed by garbage collection after
/// a day), so a pull that was interrupted — a lost connection, a killed
/// program — continues where it stopped, in this run or the next. Blobs
/// download largest first. A blob of a MiB or more first comes as one
/// stream, hashed (and a layer checked) as it arrives and written straight
/// to disk (O_DIRECT, where the file system allows it). A stream slower
/// than 256 MB/s over its first second (or 32 MiB), or one that breaks,
/// gives way: the rest is fetched with Range requests, for a blob of 64 MiB
/// or more in 32 MiB pieces over up to four connections at once, when the
/// registry honours ranges. A connection that
/// stalls for 30 seconds (`$IMG_REGISTRY_TIMEOUT`) is dropped and the
/// download resumed on a new one. Answers 429 and 502/503/504 (and 500, to
/// a request that can be repeated) are retried up to 5 times, after what
/// the registry's Retry-After says (seconds or an HTTP date, at most 30 s)
/// or else 0.5 s, 1 s, 2 s, …; a registry that keeps failing ends the pull
/// with one error line. Blob downloads that the registry redirects to
/// storage on another host are followed, and the credentials are never
/// sent along.
///
/// Progress goes to stderr in Docker's words (`Pulling fs layer`,
/// `Downloading`, `Pull complete`, `Digest:`, `Status:`), with live bars only
/// when stderr is a terminal. Credentials come from `--creds`; else from
/// `$REGISTRY_AUTH_FILE`; else from Docker's config.json (`$DOCKER_CONFIG`
/// or `~/.docker`, as `img-login` and `docker login` write it): the
/// registry's `credHelpers` entry, else `credsStore`, else `auths`; else
/// from containers' auth.json (`$XDG_RUNTIME_DIR/containers/auth.json`, then
/// `~/.config/containers/auth.json`, as `podman login` and `skopeo login`
/// write it). An identity token stored there (`identitytoken`, or a
/// helper's user `<token>`) is traded for access tokens by OAuth2, never
/// sent as a password. No password or token is ever printed. HTTPS is required and
/// verified, except for localhost and 127.0.0.0/8, `--insecure-registry`
/// hosts, and `--tls-verify=false`, where plain HTTP is tried when HTTPS is
/// not spoken. `--cert-dir DIR` (or `/etc/docker/certs.d/HOST:PORT`) gives
/// a private CA (`*.crt`) and a client certificate (`NAME.cert` with
/// `NAME.key`) for registries that demand one.
#[derive(Debug, Parser)]
#[command(
    name = "img-pull",
    version,
    about = "Fetch images from a registry (docker pull)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-pull busybox\n  img-pull localhost:5000/app:1 | img-tag app:1\n  img-pull --platform linux/arm64 alpine:3.20\n  img-pull --all-platforms registry.example.com/team/app@sha256:…\n  img-pull --registry-mirror https://mirror.example.com busybox"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
    /// The images to pull: NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME[:TAG|@DIGEST]", required = true)]
    pub images: Vec<String>,
    /// Choose this platform from a multi-platform image (os/arch[/variant]) [default: the host's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// Keep the whole multi-platform index and pull every platform's image
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Pull every tag of each repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Print no progress, only the records (on a terminal, the names)
    #[arg(short, long)]
    pub quiet: bool,
    /// How many blobs to download at once
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_downloads: u16,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Pull every image and print its record.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let references = cli
        .images
        .iter()
        .map(|i| Reference::parse(i))
        .collect::<Result<Vec<_>, _>>()?;
    let client = cli.mirrors.options(&cli.registry)?;
    let options = PullOptions {
        platform: cli.platform.clone(),
        all_platforms: cli.all_platforms,
        max_concurrent_downloads: usize::from(cli.max_concurrent_downloads),
        client,
    };
    let store = cli.common.store()?;
    let progress = Stderr::new(cli.quiet);
    let mut out = Announce::new(false);
    for reference in &references {
        let targets = if cli.all_tags {
            pull::all_tags(reference, &options, &progress)?
        } else {
            vec![reference.clone()]
        };
        for target in &targets {
            let pulled = pull::pull(&store, target, &options, &progress)?;
            // docker pull ends with the full name it pulled.
            out.image(&pulled.id, &pulled.record, &[target.to_string()])?;
        }
    }
    out.finish()?;
    Ok(())
}

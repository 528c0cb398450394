//! img-run: run a command in a new container (`docker run`).

use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser};

use img_cli::progress::Stderr;
use img_cli::{Common, Exit};
use img_container::execute::{Settings, Stdout};
use img_container::process::{read_env_file, Overrides};
use img_container::run::PullPolicy;
use img_container::runtime;
use img_container::spec::{Bind, Isolation, Network};
use img_core::platform::Platform;
use img_registry::pull::PullOptions;
use img_registry::{MirrorArgs, RegistryArgs};

/// Run a command in a new container.
///
/// Runs IMAGE's command (its ENTRYPOINT and CMD; COMMAND and ARG… replace
/// the CMD, --entrypoint the ENTRYPOINT) in a new container, in the
/// foreground, as `docker run` does, and exits with the command's exit
/// status. The container's stdout and stderr are img-run's; its stdin is
/// img-run's with -i, else empty. With -t it gets a terminal, img-run's own
/// terminal switched to raw mode meanwhile (so `img-run -it busybox sh` is
/// an interactive shell). Signals img-run receives (INT, TERM, HUP, QUIT,
/// USR1, USR2) are passed on to the container's process.
///
/// An IMAGE missing from the store is pulled first (`Unable to find image
/// … locally`), unless --pull never; --pull always pulls before every run,
/// asking with HEAD first, so that an image the registry still names is
/// not downloaded again. Pulls go as img-pull's do (registries.conf's
/// mirrors and locations, `--registry-mirror`).
/// Its layers are unpacked once into the store's snapshots
/// (`.img/snapshots`, shared by every container and removed by img-prune
/// when no image uses them), mounted read-only under an overlay whose
/// writable layer is the container's own (`.img/containers/ID/upper`). The
/// mount lives in a mount namespace of img-run's, so it never outlives the
/// run. This needs root.
///
/// The container runs through an OCI runtime: --runtime (or $IMG_RUNTIME),
/// else runc, else crun, whichever works here — a runtime that fails to
/// create the container is passed over for the next one (crun refuses hosts
/// with hybrid cgroups). Like Docker's default container, it has its own
/// PID, IPC, UTS and mount namespaces, Docker's default capabilities (all
/// with --privileged), and /etc/hostname, /etc/hosts and /etc/resolv.conf
/// of its own; its host name is its short ID unless -h names one. Unlike
/// Docker, which makes a bridge network, it shares the host's network
/// unless --network none (a network namespace with no interfaces); no
/// seccomp or AppArmor profile is applied yet, and -p, -d and named volumes
/// are not supported.
///
/// The container is kept when it ends, with its writable layer, so that
/// `img-commit CONTAINER IMAGE` can make an image of what it changed; --rm
/// removes it instead, `img-ls --containers` lists them (as `docker ps -a`)
/// and `img-prune --containers` removes every stopped one. Names are unique: --name, or a made-up one such as
/// `festive_lovelace`.
///
/// Exit status: the command's own; 125 when img-run itself fails (the
/// image cannot be found, no runtime works, bad flags), 126 when the
/// command cannot be invoked, 127 when it cannot be found — as `docker run`.
#[derive(Debug, Parser)]
#[command(
    name = "img-run",
    version,
    about = "Run a command in a new container (docker run)",
    disable_help_flag = true,
    trailing_var_arg = true
)]
#[command(
    after_help = "EXAMPLES:\n  img-run --rm busybox echo hello\n  img-run -it --name shell busybox sh\n  img-run --rm -v \"$PWD\":/src -w /src -e CI=1 builder make\n  img-run --rm --network none --read-only --tmpfs /tmp app:1\n  img-run --name work busybox sh -c 'echo hi > /hello.txt' && img-commit work busybox:hello"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Name the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Keep stdin open and pass it to the container
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to pass img-run's own value)
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// The working directory inside the container (made when missing)
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user to run as: NAME|UID[:GROUP|GID]
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Replace the image's ENTRYPOINT ("" clears it)
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// The container's host name [default: its short ID]
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// The network: host (the host's) or none (no interfaces)
    #[arg(long, alias = "net", value_name = "MODE", default_value = "host", value_parser = ["host", "none"])]
    pub network: String,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Give the container every capability and unmask kernel paths
    #[arg(long)]
    pub privileged: bool,
    /// Add a capability (NET_ADMIN, or ALL)
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability (NET_RAW, or ALL)
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Bind a host directory: /HOST/PATH:/CONTAINER/PATH[:ro]
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Mount a tmpfs at a path in the container
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// The OCI runtime (runc, crun, or a path) [default: $IMG_RUNTIME, else the first of runc and crun that works]
    #[arg(long, value_name = "RUNTIME", env = "IMG_RUNTIME")]
    pub runtime: Option<String>,
    /// For a multi-platform image, the platform to run (os/arch[/variant]) [default: the host's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// When to pull the image
    #[arg(long, value_enum, default_value = "missing", value_name = "WHEN")]
    pub pull: PullArg,
    /// Print no pull progress
    #[arg(short, long)]
    pub quiet: bool,
    /// The image: name[:tag], name@digest, or image ID
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments [default: the image's]
    #[arg(value_name = "COMMAND", allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// When to pull the image, as `docker run --pull` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullArg {
    /// When it is not in the store.
    Missing,
    /// Before every run.
    Always,
    /// Never: a missing image is an error.
    Never,
}

impl From<PullArg> for PullPolicy {
    fn from(arg: PullArg) -> PullPolicy {
        match arg {
            PullArg::Missing => PullPolicy::Missing,
            PullArg::Always => PullPolicy::Always,
            PullArg::Never => PullPolicy::Never,
        }
    }
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the container; its exit status becomes img-run's.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match run_container(cli) {
        Ok(code) => Err(Exit(code).into()),
        Err(e) => {
            // img-run's own failures exit 125, as docker run's do.
            img_cli::print_error("img-run", &e);
            Err(Exit(125).into())
        }
    }
}

fn run_container(cli: Cli) -> anyhow::Result<i32> {
    let binds = cli
        .volumes
        .iter()
        .map(|v| Bind::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env_files = Vec::new();
    for file in &cli.env_files {
        env_files.extend(read_env_file(file)?);
    }
    let settings = Settings {
        isolation: Isolation {
            hostname: String::new(),
            network: Network::parse(&cli.network),
            read_only: cli.read_only,
            privileged: cli.privileged,
            cap_add: cli.cap_add,
            cap_drop: cli.cap_drop,
            binds,
            tmpfs: cli.tmpfs,
        },
        interactive: cli.interactive,
        tty: cli.tty,
        runtimes: runtime::candidates(cli.runtime.as_deref())?,
        stdout: Stdout::Inherit,
    };
    let options = img_container::run::Options {
        name: cli.name,
        remove: cli.rm,
        overrides: Overrides {
            entrypoint: cli.entrypoint,
            command: cli.command,
            env: cli.env,
            env_files,
            workdir: cli.workdir,
            user: cli.user,
        },
        hostname: cli.hostname,
        settings,
        platform: cli.platform.clone(),
        pull: cli.pull.into(),
        pull_options: PullOptions {
            platform: cli.platform,
            all_platforms: false,
            max_concurrent_downloads: 3,
            client: cli.mirrors.options(&cli.registry)?,
        },
    };
    let root = cli.common.root_dir();
    let progress = Stderr::new(cli.quiet);
    let ran = img_container::run::run(&root, &cli.image, &options, &progress)?;
    if let Some(message) = &ran.refused {
        eprintln!("img-run: error: {message}");
    }
    Ok(ran.code)
}

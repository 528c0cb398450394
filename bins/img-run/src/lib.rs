//! img-run: run a command in a new container (`docker run`).

use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser};

use img_cli::progress::Stderr;
use img_cli::{Common, Exit};
use img_container::execute::{Settings, Stdout};
use img_container::network::Port;
use img_container::process::{read_env_file, Overrides};
use img_container::runtime;
use img_container::spec::{Bind, Isolation, Network};
use img_core::platform::Platform;
use img_registry::pull::PullOptions;
use img_registry::{MirrorArgs, RegistryArgs};
use img_runner::run::PullPolicy;

/// Run a command in a new container.
///
/// Runs IMAGE's command (its ENTRYPOINT and CMD; COMMAND and ARG… replace
/// the CMD, --entrypoint the ENTRYPOINT) in a new container, in the
/// foreground, as `docker run` does, and exits with the command's exit
/// status. Its stdout and stderr are copied to img-run's, and kept in its
/// json-file log as Docker keeps them (img-logs shows them after it
/// ended); its stdin is img-run's with -i, else empty. As with Docker, the
/// container writes into pipes (no terminal without -t), never into
/// img-run's own descriptors: should img-run be killed, nothing of the
/// container or the runtime is left holding its caller's pipe. With -t it gets a terminal, img-run's own
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
/// run. This needs root. Each layer is unpacked inside its snapshot only,
/// whoever put the image into the store: a layer with an entry leaving the
/// root (`..`), a hard link out of it or a whiteout of `.` or `..` is
/// refused (exit status 125), and its links are followed inside the
/// snapshot, never out of it.
///
/// The container runs through an OCI runtime: --runtime (or $IMG_RUNTIME),
/// else runc, else crun, whichever works here — a runtime that fails to
/// create the container is passed over for the next one (crun refuses hosts
/// with hybrid cgroups). Without -t one runtime process makes, starts and
/// waits for the container (`runc run`); with -t it is made and started
/// apart (`create`, `start`), so that the runtime hands the terminal over.
/// The runtime keeps its state inside the store
/// (`.img/runtime`). The container's record names the runtime that ran it
/// (`.img/containers/ID/container.json`). `img-run --version` prints img-run's
/// version, then a line `runtime: NAME VERSION (PROGRAM)` for each runtime
/// it would try, in the order tried (with --runtime or $IMG_RUNTIME, only
/// that one), as its `--version` reports it. Why there: Docker shows the
/// runtime in `docker info` and its version in `docker version`, the
/// daemon's reports, because the daemon runs containers; img has no
/// daemon, and img-run (like img-create, which records the runtime a
/// container's starts use) is the program that picks and runs the runtime,
/// so its own version report is where the runtime's belongs — and it
/// answers for the same --runtime and $IMG_RUNTIME a run would use. Like
/// Docker's default container, it has its own PID,
/// IPC, UTS and mount namespaces, Docker's default capabilities (all with
/// --privileged), and /etc/hostname, /etc/hosts and /etc/resolv.conf of its
/// own; its host name is its short ID unless -h names one.
///
/// Network: by default (--network bridge) the container has a network
/// namespace of its own with outbound access, connected by pasta (Debian's
/// passt package) through an interface named eth0, as Docker's: the host's
/// IPv4 addresses and routes copied in (IPv6 too when a port is published
/// on the host's IPv6 addresses), connections
/// carried out through the host's sockets, the gateway address reaching
/// the host's own services — Docker's bridge as a user sees it, with no
/// change to the host's network; as with Docker, the container's process
/// starts once its network is configured (pasta starts while the runtime
/// makes the container, whose createRuntime hook waits for it, and a pasta
/// that fails fails the run). -p [IP:][HOSTPORT:]PORT[/tcp|udp]
/// publishes a port (a free host port when HOSTPORT is left out), -P every
/// port the image EXPOSEs; a host port in use fails the run before
/// anything is made, and the port is free again once the container ended.
/// --network host shares the host's network, --network none leaves only
/// loopback.
///
/// Seccomp: as Docker, every container's system calls are filtered by
/// Docker's default profile (moby's profiles/seccomp default.json, built
/// into img): calls it denies, such as mount, unshare, keyctl or reboot,
/// fail with EPERM, unless a capability the profile names is added
/// (--cap-add SYS_ADMIN allows mount and unshare, as with Docker).
/// --security-opt seccomp=unconfined runs it unfiltered, as --privileged
/// does; --security-opt seccomp=FILE applies a profile of Docker's format
/// instead (read when the container is made). --security-opt
/// no-new-privileges keeps setuid programs and file capabilities from
/// giving it more. img applies no AppArmor or SELinux profile:
/// apparmor=unconfined and label=disable are taken, other AppArmor or
/// label options refused. RUN steps of img-build are filtered by the same
/// default profile, as BuildKit's are.
///
/// With -d the container runs in the background: img-run prints its ID and
/// returns once it runs; a monitor (img-monitor in ps) keeps it, writes its
/// output into a json-file log as Docker's (img-logs; at most 10 MB and one
/// older file) and records how it ended. With -d -i its stdin stays open
/// and empty, as Docker's does while nothing is attached (img has no
/// attach), so `img-run -di busybox sh` keeps a shell running for
/// img-exec. img-ps lists containers, img-stop, img-kill,
/// img-start, img-exec and img-rm --container act on them. --restart takes
/// only "no". In the foreground the container dies with img-run, however
/// img-run ends (a guard, img-guard in ps, ends it if img-run is killed);
/// containers whose owner died are ended by the next img program.
///
/// The container is kept when it ends, with its writable layer, so that
/// `img-commit CONTAINER IMAGE` can make an image of what it changed (a
/// running one too); --rm removes it instead. Names are unique: --name, or
/// a made-up one such as `festive_lovelace`.
///
/// Exit status: the command's own; 125 when img-run itself fails (the
/// image cannot be found, no runtime works, bad flags), 126 when the
/// command cannot be invoked, 127 when it cannot be found — as `docker run`.
#[derive(Debug, Parser)]
#[command(
    name = "img-run",
    version,
    disable_version_flag = true,
    about = "Run a command in a new container (docker run)",
    disable_help_flag = true,
    trailing_var_arg = true
)]
#[command(
    after_help = "EXAMPLES:\n  img-run --rm busybox echo hello\n  img-run -it --name shell busybox sh\n  img-run --rm -v \"$PWD\":/src -w /src -e CI=1 builder make\n  img-run --rm --network none --read-only --tmpfs /tmp app:1\n  img-run --name work busybox sh -c 'echo hi > /hello.txt' && img-commit work busybox:hello\n  img-run -d --name web -p 8090:80 mynginx && curl 127.0.0.1:8090"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Run the container in the background and print its ID
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub args: RunArgs,
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

/// The flags and arguments img-run and img-create share (`docker create`
/// takes those of `docker run` but -d).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
    /// Remove the container when it exits (its writable layer, never kept,
    /// is never synced to disk either: mounted volatile)
    #[arg(long)]
    pub rm: bool,
    /// Publish a container's port on the host: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]
    #[arg(short, long = "publish", value_name = "[IP:]HOSTPORT:PORT")]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a free host port
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// What to do when the container exits (only "no": img restarts nothing)
    #[arg(long, value_name = "POLICY", default_value = "no", value_parser = ["no"])]
    pub restart: String,
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
    /// The network: bridge (its own, with outbound access and published ports), host (the host's) or none (loopback only)
    #[arg(long, alias = "net", value_name = "MODE", default_value = "bridge", value_parser = ["bridge", "host", "none"])]
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
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
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
    /// Print the version, then the OCI runtime that would run the container and its version (each one tried, in order; with --runtime, that one)
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The image: name[:tag], name@digest, or image ID
    #[arg(value_name = "IMAGE", required_unless_present = "version")]
    pub image: Option<String>,
    /// The command and its arguments [default: the image's]
    #[arg(value_name = "COMMAND", allow_hyphen_values = true)]
    pub command: Vec<String>,
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
    let Some(image) = cli.args.image_or_version("img-run")? else {
        return Ok(0);
    };
    let quiet = cli.args.quiet;
    let mut options = cli.args.options()?;
    options.detach = cli.detach;
    let root = cli.common.root_dir();
    let ran = img_runner::run::run(&root, &image, &options, &Stderr::new(quiet))?;
    if let Some(message) = &ran.refused {
        eprintln!("img-run: error: {message}");
    } else if cli.detach {
        println!("{}", ran.container.id);
    }
    Ok(ran.code)
}

impl RunArgs {
    /// The image to run; with --version, `None` once the version and the
    /// runtimes are printed.
    pub fn image_or_version(&self, program: &str) -> anyhow::Result<Option<String>> {
        if !self.version {
            // clap requires IMAGE unless --version is given.
            return Ok(self.image.clone());
        }
        let runtimes = runtime::candidates(self.runtime.as_deref())?;
        print!(
            "{program} {}\n{}",
            env!("CARGO_PKG_VERSION"),
            runtime::describe(&runtimes)
        );
        Ok(None)
    }

    /// The library's options for these flags (not detached).
    pub fn options(self) -> anyhow::Result<img_runner::run::Options> {
        let binds = self
            .volumes
            .iter()
            .map(|v| Bind::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        let mut env_files = Vec::new();
        for file in &self.env_files {
            env_files.extend(read_env_file(file)?);
        }
        let mut isolation = Isolation {
            hostname: String::new(),
            network: Network::parse(&self.network),
            read_only: self.read_only,
            privileged: self.privileged,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            binds,
            tmpfs: self.tmpfs,
            ports: self
                .publish
                .iter()
                .map(|p| Port::parse(p))
                .collect::<Result<Vec<_>, _>>()?,
            ..Isolation::default()
        };
        for opt in &self.security_opt {
            isolation.security_opt(opt)?;
        }
        let settings = Settings {
            isolation,
            interactive: self.interactive,
            tty: self.tty,
            runtimes: runtime::candidates(self.runtime.as_deref())?,
            // The library sets it from the store.
            runtime_dir: PathBuf::new(),
            stdout: Stdout::Inherit,
            // The library sets these from --rm.
            volatile: false,
            remove: false,
        };
        Ok(img_runner::run::Options {
            name: self.name,
            remove: self.rm,
            detach: false,
            publish_all: self.publish_all,
            runtime: self.runtime.clone(),
            overrides: Overrides {
                entrypoint: self.entrypoint,
                command: self.command,
                env: self.env,
                env_files,
                workdir: self.workdir,
                user: self.user,
            },
            hostname: self.hostname,
            settings,
            platform: self.platform.clone(),
            pull: self.pull.into(),
            pull_options: PullOptions {
                platform: self.platform,
                all_platforms: false,
                max_concurrent_downloads: 3,
                client: self.mirrors.options(&self.registry)?,
            },
        })
    }
}

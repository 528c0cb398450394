//! Running one container to its end: the overlay mounted, the user and
//! working directory resolved inside it, the runtime config written, the
//! runtime tried (see `runtime.rs`), the process waited for with signals
//! passed on to it, and everything of the run taken down again — the
//! runtime's state and the mount — whatever way it ended.
//!
//! The caller has entered a private mount namespace
//! ([`super::overlay::enter_private_namespace`]) on this thread.

use std::fs;
use std::path::PathBuf;

use super::children;
use super::console;
use super::network;
use super::overlay;
use super::owner::{self, Owner};
use super::process::{self, Process};
use super::runtime::{self, CreateError, Runtime};
use super::signals;
use super::spec::{self, Isolation, Network};
use super::stdio;
/// Where a container's stdout goes; its home is `stdio.rs`, beside the pipes.
pub use super::stdio::Stdout;
use super::user;
use super::Dir;
use img_core::confine::{Missing, Root};
use img_core::error::{Error, IoContext, Kind, Result};

/// How a container is run, besides its process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What it sees of the host and may do.
    pub isolation: Isolation,
    /// Pass img's stdin on.
    pub interactive: bool,
    /// Give it a terminal.
    pub tty: bool,
    /// The runtimes to try, in order.
    pub runtimes: Vec<Runtime>,
    /// Where the container's stdout goes.
    pub stdout: Stdout,
    /// The store's runtime directory (`ROOT/.img/runtime`): the runtimes'
    /// state and the owners' locks (see `owner.rs`); set by the library
    /// from the store.
    pub runtime_dir: PathBuf,
    /// The container's writable layer needs no sync to disk
    /// (`overlay::mount_volatile`): it is thrown away when the container
    /// ends (`--rm`), or it is a build step's, stored as a blob (synced
    /// then) and kept as a snapshot (which, as an unpacked one, is not).
    pub volatile: bool,
    /// The container's directory goes when the run ends (`--rm`): moved
    /// into the store's trash, for its guard to remove (`trash.rs`).
    pub remove: bool,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status: the process's, 128 + a signal, or 126/127 when the
    /// command could not be run at all.
    pub code: i32,
    /// Why the command could not be run (126/127).
    pub refused: Option<String>,
    /// The runtime that ran it.
    pub runtime: Runtime,
}

/// What a run tells its caller of the container's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The runtime is asked to start it now and names its process only
    /// once it runs (`run`): a caller that lists it records it as running
    /// already, so that nothing sees it serve while it is listed as
    /// created.
    Imminent,
    /// Its process (this ID) runs.
    Running(i32),
}

/// Run `process` in the container `id` whose directory is `dir`, on the
/// read-only layers `lowers` (top first). `started` is told when its
/// process is about to start and once it runs.
pub fn execute(
    id: &str,
    dir: &Dir,
    lowers: &[PathBuf],
    process: &Process,
    settings: &Settings,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Outcome> {
    runtime::become_subreaper()?;
    let runtime_dir = &settings.runtime_dir;
    let mut owner = Owner::claim(runtime_dir, id)?;
    // Before anything is started for the container: from here on it dies
    // with this process, whatever moment it is killed at (the guard waits
    // for a runtime process under way to make what it makes, then ends
    // it; pasta is found by the file it names).
    let result = owner::spawn_guard(runtime_dir, id).and_then(|_| {
        // pasta's start-up is the longest step of a run: it goes on while
        // the root filesystem is mounted, the runtime config written and
        // the runtime makes the container (whose hook waits for it).
        let network = match settings.isolation.network {
            Network::Bridge => {
                let namespace = network::Namespace::new()?;
                let pid_file = owner.helper_file(id, "pasta");
                let pasta = network::start(&namespace, &settings.isolation.ports, &pid_file)?;
                Some((namespace, pasta))
            }
            Network::Host | Network::None => None,
        };
        let rootfs = mount(dir, lowers, settings.volatile)?;
        let result = run_mounted(id, dir, process, settings, &mut owner, network, started);
        // The namespace dies with img; a build runs many steps in it, so
        // each step's mount goes at once.
        let _ = rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH);
        result
    });
    // Before the owner lets go: its guard, woken by that, empties it.
    let result = match (settings.remove, result) {
        (true, Ok(outcome)) => dir.throw_away().map(|_| outcome),
        (true, Err(e)) => {
            let _ = dir.throw_away();
            Err(e)
        }
        (false, result) => result,
    };
    owner.release();
    result
}

/// The network a container joins, made before it: the namespace and
/// pasta connecting it.
type Prepared = Option<(network::Namespace, network::Starting)>;

/// Mount the container's root filesystem: `lowers` under its init layer
/// and writable layer (`volatile`: never synced); its mount point.
fn mount(dir: &Dir, lowers: &[PathBuf], volatile: bool) -> Result<PathBuf> {
    let mut lowers = lowers.to_vec();
    lowers.insert(0, init_layer(dir)?);
    let rootfs = dir.rootfs();
    if volatile {
        overlay::mount_volatile(&lowers, &dir.upper(), &dir.work(), &rootfs)?;
    } else {
        overlay::mount(&lowers, &dir.upper(), &dir.work(), &rootfs)?;
    }
    Ok(rootfs)
}

fn run_mounted(
    id: &str,
    dir: &Dir,
    process: &Process,
    settings: &Settings,
    owner: &mut Owner,
    network: Prepared,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Outcome> {
    let rootfs = dir.rootfs();
    let user = user::resolve(&rootfs, &process.user)?;
    let mut env = process.env.clone();
    process::add_home(&mut env, &user.home);
    // The image's config names it: made inside the root filesystem, links
    // on the way followed as if it were `/`.
    Root::open(&rootfs)
        .and_then(|root| root.dir(process.cwd.as_bytes(), Missing::Replace))
        .map_err(|e| e.context(format!("making the working directory {}", process.cwd)))?;
    let iso = &settings.isolation;
    let etc_files = write_etc_files(dir, &iso.hostname, iso.network)?;
    let (namespace, mut pasta) = match network {
        Some((namespace, pasta)) => (Some(namespace), Some(pasta)),
        None => (None, None),
    };
    let options = spec::Options {
        args: process.args.clone(),
        env,
        cwd: process.cwd.clone(),
        user,
        terminal: settings.tty,
        isolation: iso.clone(),
        etc_files,
        network_namespace: namespace.as_ref().map(network::Namespace::path),
        ready_hook: pasta.as_ref().map(network::Starting::hook).transpose()?,
    };
    let config = spec::build(&options)?;
    let config_path = dir.file("config.json");
    fs::write(&config_path, img_core::json::pretty(&config)?)
        .io_context(|| format!("writing {}", config_path.display()))?;
    // The namespace stays open (its path is in the config) until the
    // runtime is done with it; pasta goes on starting while the runtime
    // does, and the runtime's hook holds the container until it is ready.
    let outcome = create_and_supervise(id, dir, settings, owner, &mut pasta, started);
    drop(namespace);
    outcome
}

/// pasta, ready once the runtime's hook let the container start: noted
/// as the container's helper.
fn connected(owner: &mut Owner, pasta: &mut Option<network::Starting>) -> Result<()> {
    match pasta.take() {
        Some(starting) => owner.add_helper(starting.ready()?),
        None => Ok(()),
    }
}

/// Try the runtimes in turn until one creates the container, then run it.
fn create_and_supervise(
    id: &str,
    dir: &Dir,
    settings: &Settings,
    owner: &mut Owner,
    pasta: &mut Option<network::Starting>,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Outcome> {
    let mut failures = Vec::new();
    for candidate in &settings.runtimes {
        let candidate = &candidate.in_store(&settings.runtime_dir);
        owner.add_runtime(candidate)?;
        let tried = if settings.tty {
            create_and_start(id, dir, candidate, settings, owner, pasta, started)?
        } else {
            run(id, dir, candidate, settings, owner, pasta, started)?
        };
        match tried {
            Tried::Ran(outcome) => return Ok(outcome),
            Tried::Failed(e) => {
                // pasta failing fails the hook, and with it the runtime:
                // its own reason is the one to give.
                connected(owner, pasta)?;
                failures.push(format!(
                    "{} could not create the container: {e}",
                    candidate.name
                ));
            }
        }
    }
    // Every runtime failed: each one's reason, the preferred runtime's
    // first.
    Err(Error::new(
        Kind::Remote,
        if failures.is_empty() {
            "no OCI runtime to run the container with".to_string()
        } else {
            failures.join("; ")
        },
    ))
}

/// What trying one runtime came to.
enum Tried {
    /// It ran the container (or said that its command cannot be run).
    Ran(Outcome),
    /// It failed before the container's process started: another runtime
    /// may work.
    Failed(Error),
}

/// Run the container with one runtime process (no terminal): `run`
/// creates and starts it and waits for it; img passes signals on and
/// copies its output.
fn run(
    id: &str,
    dir: &Dir,
    runtime: &Runtime,
    settings: &Settings,
    owner: &mut Owner,
    pasta: &mut Option<network::Starting>,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Tried> {
    let (stdio, ends) = stdio::Ends::new(&settings.stdout, settings.interactive, false)?;
    // Set before the process starts: a signal that comes while `run`
    // starts it is passed on once it is known.
    let attached = !matches!(settings.stdout, Stdout::Log(_));
    let forwarding = if attached {
        Some(signals::forward_soon()?)
    } else {
        None
    };
    started(runtime, Start::Imminent)?;
    let running = match runtime.run(dir.path(), id, stdio) {
        Ok(running) => running,
        Err(failed) => return Ok(not_created(id, runtime, failed)),
    };
    // Should the runtime die before the container's process, that process
    // becomes ours (we are a subreaper), for nobody to wait for.
    let orphan = rustix::process::pidfd_open(running.pid, rustix::process::PidfdFlags::empty());
    let copying = ends.copy(&settings.stdout, running.stderr, None, settings.interactive);
    let copying = match copying {
        Ok(copying) => copying,
        Err(e) => {
            let _ = rustix::process::kill_process(running.pid, rustix::process::Signal::KILL);
            let _ = children::wait(running.runner);
            return Err(e);
        }
    };
    if let Some(forwarding) = &forwarding {
        forwarding.to(running.pid);
    }
    let result = connected(owner, pasta)
        .and_then(|_| started(runtime, Start::Running(running.pid.as_raw_nonzero().get())))
        .and_then(|_| {
            // pasta is ended with the container's process, not after the
            // runtime took the container down: a published port is free
            // that much sooner (its exit takes a while, see `owner.rs`).
            // A process gone before it could be watched (a short command)
            // has ended already.
            match &orphan {
                Ok(container) => {
                    ended(container, running.runner);
                    owner.end_helpers();
                }
                Err(rustix::io::Errno::SRCH) => owner.end_helpers(),
                Err(_) => {}
            }
            children::wait(running.runner)
        });
    if result.is_err() {
        let _ = rustix::process::kill_process(running.pid, rustix::process::Signal::KILL);
        let _ = children::wait(running.runner);
    }
    drop(forwarding);
    if let Ok(orphan) = orphan {
        children::reap_later(orphan);
    }
    // `run` takes the container out of its state when it ends; only a
    // `run` that was killed leaves it.
    if runtime.has_state(id) {
        let _ = runtime.delete(id);
    }
    copying.finish();
    Ok(Tried::Ran(Outcome {
        code: result?,
        refused: None,
        runtime: runtime.clone(),
    }))
}

/// Block until the container's process (`container`, a pidfd) ended, or
/// its runtime `runner` did first.
fn ended(container: &std::os::fd::OwnedFd, runner: rustix::process::Pid) {
    use rustix::event::{poll, PollFd, PollFlags};
    let Ok(runner) = rustix::process::pidfd_open(runner, rustix::process::PidfdFlags::empty())
    else {
        return;
    };
    loop {
        let mut fds = [
            PollFd::new(container, PollFlags::IN),
            PollFd::new(&runner, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
}

/// A runtime that failed before the container's process started: what it
/// left is taken down.
fn not_created(id: &str, runtime: &Runtime, failed: CreateError) -> Tried {
    if runtime.has_state(id) {
        let _ = runtime.delete(id);
    }
    match failed {
        CreateError::Command { message, code } => Tried::Ran(Outcome {
            code,
            refused: Some(message),
            runtime: runtime.clone(),
        }),
        CreateError::Runtime(e) => Tried::Failed(e),
    }
}

/// Create the container with a terminal (the runtime sends its master
/// over a socket), start it, and supervise it.
fn create_and_start(
    id: &str,
    dir: &Dir,
    runtime: &Runtime,
    settings: &Settings,
    owner: &mut Owner,
    pasta: &mut Option<network::Starting>,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Tried> {
    let socket = console::Socket::new()?;
    let (stdio, ends) = stdio::Ends::new(&settings.stdout, settings.interactive, true)?;
    let created = match runtime.create(dir.path(), id, stdio, Some(&socket.path())) {
        Ok(created) => created,
        Err(failed) => return Ok(not_created(id, runtime, failed)),
    };
    // The hook ran during `create`: pasta is ready.
    if let Err(e) = connected(owner, pasta) {
        let _ = rustix::process::kill_process(created.pid, rustix::process::Signal::KILL);
        let _ = runtime.delete(id);
        return Err(e);
    }
    let terminal = socket.receive()?;
    let copying = ends.copy(
        &settings.stdout,
        created.stderr,
        Some(
            terminal
                .try_clone()
                .io_context(|| "sharing the terminal".into())?,
        ),
        settings.interactive,
    )?;
    supervise(
        id,
        runtime,
        created.pid,
        Some(terminal),
        copying,
        settings,
        started,
    )
    .map(Tried::Ran)
}

/// Start the created container, pass signals and the terminal on (an
/// attached one), wait for it and take it out of the runtime's state.
fn supervise(
    id: &str,
    runtime: &Runtime,
    pid: rustix::process::Pid,
    terminal: Option<fs::File>,
    copying: stdio::Copying,
    settings: &Settings,
    started: &mut dyn FnMut(&Runtime, Start) -> Result<()>,
) -> Result<Outcome> {
    let attached = !matches!(settings.stdout, Stdout::Log(_));
    let _raw = (attached && terminal.is_some()).then(console::RawMode::enter);
    let forwarding = if attached {
        if let Some(master) = &terminal {
            console::copy_size(master);
        }
        let master = terminal.as_ref().and_then(|m| m.try_clone().ok());
        Some(signals::forward_to(pid, master)?)
    } else {
        None
    };
    let result = runtime
        .start(id)
        .and_then(|_| started(runtime, Start::Running(pid.as_raw_nonzero().get())))
        .and_then(|_| children::wait(pid));
    if result.is_err() {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let _ = children::wait(pid);
    }
    drop(forwarding);
    let _ = runtime.delete(id);
    drop(terminal);
    copying.finish();
    Ok(Outcome {
        code: result?,
        refused: None,
        runtime: runtime.clone(),
    })
}

/// The container's init layer, between the image and the writable layer,
/// as Docker's: the mount points the runtime needs (`/proc`, `/sys`,
/// `/dev`, `/dev/pts`, `/dev/shm`, and the `/etc` files bound in), so that
/// the runtime finds them and does not make them in the writable layer —
/// which img-commit and img-build take as the container's changes.
pub fn init_layer(dir: &Dir) -> Result<PathBuf> {
    let init = dir.file("init");
    for sub in ["proc", "sys", "dev/pts", "dev/shm", "etc"] {
        let path = init.join(sub);
        fs::create_dir_all(&path).io_context(|| format!("creating {}", path.display()))?;
    }
    for file in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        let path = init.join(file);
        fs::write(&path, b"").io_context(|| format!("creating {}", path.display()))?;
    }
    Ok(init)
}

/// The files Docker binds into `/etc`: `hostname`, `hosts` (loopback
/// names and the container's host name; the host's own file when it
/// shares the host's network) and `resolv.conf` (the host's).
fn write_etc_files(
    dir: &Dir,
    hostname: &str,
    network: Network,
) -> Result<Vec<(PathBuf, &'static str)>> {
    let hosts = match network {
        Network::Host => fs::read_to_string("/etc/hosts").unwrap_or_default(),
        Network::None | Network::Bridge => String::new(),
    };
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n{hosts}"
    );
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let files = [
        ("hostname", format!("{hostname}\n"), "/etc/hostname"),
        ("hosts", hosts, "/etc/hosts"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
    ];
    let mut binds = Vec::new();
    for (name, text, destination) in files {
        let path = dir.file(name);
        fs::write(&path, text).io_context(|| format!("writing {}", path.display()))?;
        binds.push((path, destination));
    }
    Ok(binds)
}

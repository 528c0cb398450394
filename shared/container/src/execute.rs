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

/// Run `process` in the container `id` whose directory is `dir`, on the
/// read-only layers `lowers` (top first). `started` is told the process
/// ID once it runs.
pub fn execute(
    id: &str,
    dir: &Dir,
    lowers: &[PathBuf],
    process: &Process,
    settings: &Settings,
    started: &mut dyn FnMut(&Runtime, i32) -> Result<()>,
) -> Result<Outcome> {
    let mut lowers = lowers.to_vec();
    lowers.insert(0, init_layer(dir)?);
    let rootfs = dir.rootfs();
    overlay::mount(&lowers, &dir.upper(), &dir.work(), &rootfs)?;
    let result = run_mounted(id, dir, process, settings, started);
    // The namespace dies with img; a build runs many steps in it, so each
    // step's mount goes at once.
    let _ = rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH);
    result
}

fn run_mounted(
    id: &str,
    dir: &Dir,
    process: &Process,
    settings: &Settings,
    started: &mut dyn FnMut(&Runtime, i32) -> Result<()>,
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
    let options = spec::Options {
        args: process.args.clone(),
        env,
        cwd: process.cwd.clone(),
        user,
        terminal: settings.tty,
        isolation: iso.clone(),
        etc_files,
    };
    let config = spec::build(&options)?;
    let config_path = dir.file("config.json");
    fs::write(&config_path, img_core::json::pretty(&config)?)
        .io_context(|| format!("writing {}", config_path.display()))?;

    runtime::become_subreaper()?;
    let runtime_dir = &settings.runtime_dir;
    let mut owner = Owner::claim(runtime_dir, id)?;
    // Before the runtime is asked anything: from here on the container
    // dies with this process, whatever moment it is killed at (the guard
    // waits for a `create` under way to finish, then ends what it made).
    let result = owner::spawn_guard(runtime_dir, id)
        .and_then(|_| create_and_supervise(id, dir, settings, &mut owner, started));
    owner.release();
    result
}

/// Try the runtimes in turn until one creates the container, then run it.
fn create_and_supervise(
    id: &str,
    dir: &Dir,
    settings: &Settings,
    owner: &mut Owner,
    started: &mut dyn FnMut(&Runtime, i32) -> Result<()>,
) -> Result<Outcome> {
    let mut failures = Vec::new();
    for candidate in &settings.runtimes {
        let candidate = &candidate.in_store(&settings.runtime_dir);
        owner.add_runtime(candidate)?;
        let console = if settings.tty {
            Some(console::Socket::new()?)
        } else {
            None
        };
        let (stdio, ends) = stdio::Ends::new(&settings.stdout, settings.interactive, settings.tty)?;
        let socket_path = console.as_ref().map(console::Socket::path);
        match candidate.create(dir.path(), id, stdio, socket_path.as_deref()) {
            Ok(created) => {
                if settings.isolation.network == Network::Bridge {
                    let pid_file = owner.helper_file(id, "pasta");
                    let pid = created.pid.as_raw_nonzero().get();
                    match network::connect(pid, &settings.isolation.ports, &pid_file) {
                        Ok(helper) => owner.add_helper(helper)?,
                        Err(e) => {
                            let _ = candidate.delete(id);
                            return Err(e);
                        }
                    }
                }
                let terminal = match &console {
                    Some(socket) => Some(socket.receive()?),
                    None => None,
                };
                let copying = ends.copy(
                    &settings.stdout,
                    created.stderr,
                    terminal
                        .as_ref()
                        .map(fs::File::try_clone)
                        .transpose()
                        .io_context(|| "sharing the terminal".into())?,
                    settings.interactive,
                )?;
                return supervise(
                    id,
                    candidate,
                    created.pid,
                    terminal,
                    copying,
                    settings,
                    started,
                );
            }
            Err(CreateError::Command { message, code }) => {
                let _ = candidate.delete(id);
                return Ok(Outcome {
                    code,
                    refused: Some(message),
                    runtime: candidate.clone(),
                });
            }
            Err(CreateError::Runtime(e)) => {
                let _ = candidate.delete(id);
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

/// Start the created container, pass signals and the terminal on (an
/// attached one), wait for it and take it out of the runtime's state.
fn supervise(
    id: &str,
    runtime: &Runtime,
    pid: rustix::process::Pid,
    terminal: Option<fs::File>,
    copying: stdio::Copying,
    settings: &Settings,
    started: &mut dyn FnMut(&Runtime, i32) -> Result<()>,
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
        .and_then(|_| started(runtime, pid.as_raw_nonzero().get()))
        .and_then(|_| runtime::wait(pid));
    if result.is_err() {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let _ = runtime::wait(pid);
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

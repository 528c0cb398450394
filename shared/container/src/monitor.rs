//! A detached container's monitor: what keeps a container of `img-run -d`
//! or `img-start` running after the program that started it returned, as
//! containerd's shim does for Docker.
//!
//! [`start`] starts a copy of the running program under the name
//! `img-monitor` (`argv[0]`), in a session of its own, and waits until it
//! says on a pipe that the container runs (`ok`) or why it could not start
//! it (`fail CODE MESSAGE`). The monitor owns the container (`owner.rs`):
//! it mounts its root filesystem in a mount namespace of its own, has the
//! runtime create and start it, reaps its first process (a child
//! subreaper), copies its output into its json-file log (`log.rs`), and
//! when it ends records the exit status, takes the runtime's state and
//! pasta down and lets the mount namespace die — or removes the container
//! for `--rm`. A killed monitor leaves a container that the next program
//! reaps.
//!
//! Only the programs that start monitors (img-run, img-start) answer to
//! the name, through `img_cli::run_main_with_monitor`: the others do not
//! link the machinery that runs a container. [`start`] refuses in a
//! program that does not answer, since its copy would run the program's
//! own body with the monitor's arguments.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use super::execute::{self, Settings, Start, Stdout};
use super::{log, overlay, owner, runtime, Container, State};
use img_core::error::{Error, IoContext, Kind};

/// The name a monitor runs under.
pub(crate) const MONITOR: &str = "img-monitor";

/// Whether this program answers to [`MONITOR`] ([`run_if_monitor`] ran).
static ANSWERS: AtomicBool = AtomicBool::new(false);

/// Start `container` under a monitor; returns once it runs. A container
/// whose command cannot be run fails with exit status 126 or 127 as
/// [`Error`]s of kind `FailedPrecondition` carrying the code in
/// [`StartError`].
pub fn start(root: &Path, container: &Container) -> std::result::Result<(), StartError> {
    if !ANSWERS.load(Ordering::Relaxed) {
        return Err(StartError::Img(Error::new(
            Kind::FailedPrecondition,
            "this program cannot start a container's monitor: its main is not \
             img_cli::run_main_with_monitor (a bug in img)",
        )));
    }
    let exe = std::env::current_exe()
        .io_context(|| "finding img's own program".into())
        .map_err(StartError::Img)?;
    let (reader, writer) = std::io::pipe()
        .io_context(|| "making a pipe for the monitor".into())
        .map_err(StartError::Img)?;
    let mut command = Command::new(exe);
    command
        .arg0(MONITOR)
        .arg(root)
        .arg(&container.id)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = command
        .spawn()
        .io_context(|| "starting the container's monitor".into())
        .map_err(StartError::Img)?;
    drop(command);
    let mut said = String::new();
    let _ = BufReader::new(reader).read_line(&mut said);
    let said = said.trim_end();
    if said == "ok" {
        // The monitor lives on; it is reparented when this program ends.
        return Ok(());
    }
    let _ = child.wait();
    match said.strip_prefix("fail ").and_then(|r| r.split_once(' ')) {
        Some((code, message)) => match code.parse::<i32>() {
            Ok(code @ (126 | 127)) => Err(StartError::Command {
                code,
                message: message.to_string(),
            }),
            _ => Err(StartError::Img(Error::new(
                Kind::FailedPrecondition,
                message,
            ))),
        },
        None => Err(StartError::Img(Error::new(
            Kind::Io,
            format!(
                "the monitor of container {} ended without starting it",
                container.short_id()
            ),
        ))),
    }
}

/// Why a container did not start.
#[derive(Debug)]
pub enum StartError {
    /// Its command cannot be run (126: not executable, 127: not found).
    Command {
        /// 126 or 127.
        code: i32,
        /// The runtime's words.
        message: String,
    },
    /// img failed (exit status 125 for img-run).
    Img(Error),
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        StartError::Img(e)
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Command { message, .. } => f.write_str(message),
            StartError::Img(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Run as a monitor when this process was started as one; the programs
/// that [`start`] monitors call this first thing.
pub fn run_if_monitor() {
    ANSWERS.store(true, Ordering::Relaxed);
    let mut args = std::env::args_os();
    if args.next().is_none_or(|a| a != MONITOR) {
        return;
    }
    let root = args.next().map(PathBuf::from).unwrap_or_default();
    let id = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _ = rustix::process::setsid();
    let code = match monitor(&root, &id) {
        Ok(()) => 0,
        Err((code, e)) => {
            tell(&format!("fail {code} {}", one_line(&e.to_string())));
            1
        }
    };
    std::process::exit(code);
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

/// Say `line` to the program that started the monitor, then let go of the
/// pipe (its reader then sees the end).
fn tell(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}

fn monitor(root: &Path, id: &str) -> std::result::Result<(), (i32, Error)> {
    let img = |e: Error| (125, e);
    overlay::enter_private_namespace().map_err(img)?;
    let store = crate::open_store(root).map_err(img)?;
    let dir = crate::Containers::of(&store).dir_of(id);
    let container = dir.load().map_err(img)?;
    let config = container.config.clone().ok_or_else(|| {
        img(Error::invalid(format!(
            "container {} was made by an older img and cannot be started again",
            container.short_id()
        )))
    })?;
    let lowers = crate::containers::lowers(&store, &container).map_err(img)?;
    let runtime_dir = owner::runtime_dir(&store.state_dir());
    drop(store);
    let _lock = dir.lock().map_err(img)?;
    let settings = Settings {
        isolation: config.isolation.clone(),
        // Kept open and empty, as Docker keeps it with nothing attached.
        interactive: config.interactive,
        tty: config.tty,
        runtimes: runtime::candidates(config.runtime.as_deref()).map_err(img)?,
        stdout: Stdout::Log(log::path(dir.path(), id)),
        runtime_dir,
        volatile: container.auto_remove,
        // Removed below, after the record says how it ended: a detached
        // container's end is on nobody's critical path.
        remove: false,
    };
    let mut record = container.clone();
    let ran = execute::execute(
        id,
        &dir,
        &lowers,
        &config.process,
        &settings,
        &mut |rt, start| {
            // Nobody sees the container before the monitor says it runs.
            let Start::Running(pid) = start else {
                return Ok(());
            };
            record.runtime = rt.name.clone();
            record.state = State::Running {
                pid,
                started: Some(img_store::compose::timestamp(chrono::Utc::now())),
            };
            dir.save_unsynced(&record)?;
            tell("ok");
            Ok(())
        },
    );
    let mut record = dir.load().unwrap_or(container);
    let finished = img_store::compose::timestamp(chrono::Utc::now());
    match ran {
        Ok(outcome) if outcome.refused.is_some() => {
            // Never started: it stays as it was made, as Docker leaves it.
            let message = outcome.refused.unwrap_or_default();
            Err((outcome.code, Error::new(Kind::FailedPrecondition, message)))
        }
        Ok(outcome) => {
            if record.auto_remove {
                // Out of the list in one step; the guard empties it.
                let _ = dir.throw_away();
            } else {
                record.runtime = outcome.runtime.name.clone();
                record.state = State::Exited {
                    code: outcome.code,
                    finished,
                };
                let _ = dir.save(&record);
            }
            Ok(())
        }
        Err(e) => {
            if matches!(record.state, State::Running { .. }) {
                record.state = State::Exited {
                    code: 125,
                    finished,
                };
                let _ = dir.save(&record);
            }
            Err(img(e))
        }
    }
}

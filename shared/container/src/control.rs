//! What Docker's container commands do to a container that exists:
//! start (`img-start`), stop (`img-stop`), kill (`img-kill`), remove
//! (`img-rm --container`) and show its output (`img-logs`).
//!
//! A container runs while its owner — a foreground img-run, or the
//! monitor of a detached one — holds its lock (`owner.rs`); signals go
//! through the runtime, whose state is in the store, so that a reused
//! process ID is never signalled. Stopping waits for the owner to let go,
//! which it does once it has recorded how the container ended.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::monitor::{self, StartError};
use super::watch::Watch;
use super::{log, owner, runtime, Container, State};
use img_core::error::{Error, Kind, Result};
use img_store::Store;

/// How long a container killed with SIGKILL may take to be gone.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// Whether `container` runs now (its owner lives).
pub fn is_running(store: &Store, container: &Container) -> bool {
    matches!(container.state, State::Running { .. })
        && owner::is_owned(&owner::runtime_dir(&store.state_dir()), &container.id)
}

fn not_running(container: &Container, query: &str) -> Error {
    Error::new(
        Kind::Conflict,
        format!(
            "container {query} ({}) is not running",
            container.short_id()
        ),
    )
}

/// Start a created or stopped container in the background.
pub fn start(store: &Store, container: &Container) -> std::result::Result<(), StartError> {
    if is_running(store, container) {
        return Ok(());
    }
    monitor::start(store.root(), container)
}

/// Send `signal` (a name such as `TERM` or `SIGTERM`, or a number) to the
/// container's first process.
pub fn kill(store: &Store, container: &Container, query: &str, signal: &str) -> Result<()> {
    if !is_running(store, container) {
        return Err(not_running(container, query));
    }
    let signal = signal_name(signal)?;
    let runtime = runtime_of(store, container)?;
    runtime.kill(&container.id, &signal).map_err(|e| {
        // It ended meanwhile.
        if is_running(store, &reload(store, container)) {
            e
        } else {
            not_running(container, query)
        }
    })
}

/// Stop the container as `docker stop` does: its stop signal (the image's
/// `StopSignal`, else SIGTERM), then SIGKILL after `timeout`. A container
/// that is not running is left as it is.
pub fn stop(store: &Store, container: &Container, timeout: Duration) -> Result<()> {
    if !is_running(store, container) {
        return Ok(());
    }
    let runtime = runtime_of(store, container)?;
    let signal = container
        .config
        .as_ref()
        .and_then(|c| c.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".into());
    let _ = runtime.kill(&container.id, &signal_name(&signal)?);
    if wait_stopped(store, container, timeout) {
        return Ok(());
    }
    let _ = runtime.kill(&container.id, "SIGKILL");
    if wait_stopped(store, container, KILL_GRACE) {
        return Ok(());
    }
    Err(Error::new(
        Kind::Io,
        format!(
            "container {} did not stop within {} s of SIGKILL",
            container.short_id(),
            KILL_GRACE.as_secs()
        ),
    ))
}

/// Remove the container (`docker rm`); a running one only with `force`,
/// which kills it first.
pub fn remove(store: &Store, container: &Container, query: &str, force: bool) -> Result<()> {
    if is_running(store, container) {
        if !force {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "cannot remove container {query}: it is running; stop it first (img-stop) or force removal (-f)"
                ),
            ));
        }
        let runtime = runtime_of(store, container)?;
        let _ = runtime.kill(&container.id, "SIGKILL");
        if !wait_stopped(store, container, KILL_GRACE) {
            return Err(Error::new(
                Kind::Io,
                format!(
                    "container {query} did not stop within {} s of SIGKILL",
                    KILL_GRACE.as_secs()
                ),
            ));
        }
    }
    crate::Containers::of(store).remove(&reload(store, container))
}

fn reload(store: &Store, container: &Container) -> Container {
    crate::Containers::of(store)
        .dir_of(&container.id)
        .load()
        .unwrap_or_else(|_| container.clone())
}

/// Wait until the owner let go of the container (it recorded the end),
/// at most `timeout`; whether it did.
fn wait_stopped(store: &Store, container: &Container, timeout: Duration) -> bool {
    let runtime_dir = owner::runtime_dir(&store.state_dir());
    let dir = crate::Containers::of(store).dir_of(&container.id);
    let deadline = Instant::now() + timeout;
    let Ok(watch) = Watch::new(dir.path(), &runtime_dir.join("owned")) else {
        return false;
    };
    loop {
        // The owner lets go of the runtime container, then of the record
        // once it says how the container ended.
        if !owner::is_owned(&runtime_dir, &container.id) && !dir.is_held() {
            return true;
        }
        if Instant::now() >= deadline || watch.wait(Some(deadline)).is_err() {
            return false;
        }
    }
}

/// The exit status of a container that ended, once its owner recorded it
/// (`img-start -a`); waits for the owner to let go, at most [`KILL_GRACE`].
pub fn exit_status(store: &Store, container: &Container) -> Result<i32> {
    if !wait_stopped(store, container, KILL_GRACE) {
        return Err(Error::new(
            Kind::Io,
            format!(
                "container {} still runs {} s after its output ended",
                container.short_id(),
                KILL_GRACE.as_secs()
            ),
        ));
    }
    match reload(store, container).state {
        State::Exited { code, .. } => Ok(code),
        // Never started, or reaped before it said: as Docker's 125.
        _ => Ok(125),
    }
}

/// The runtime that runs the container, keeping its state in the store.
fn runtime_of(store: &Store, container: &Container) -> Result<runtime::Runtime> {
    let name = (!container.runtime.is_empty()).then_some(container.runtime.as_str());
    let found = runtime::candidates(name)?;
    let runtime = found
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("no OCI runtime found"))?;
    Ok(runtime.in_store(&owner::runtime_dir(&store.state_dir())))
}

/// A signal as the runtimes take it: `SIGTERM` for `term`, `TERM` or
/// `SIGTERM`; numbers as they are.
pub fn signal_name(text: &str) -> Result<String> {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    if let Ok(n) = text.parse::<u8>() {
        if (1..=64).contains(&n) {
            return Ok(n.to_string());
        }
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if NAMES.contains(&bare) || bare.starts_with("RTMIN") || bare.starts_with("RTMAX") {
        return Ok(format!("SIG{bare}"));
    }
    Err(Error::invalid(format!(
        "invalid signal {text:?}: give a name (TERM, SIGKILL) or a number"
    )))
}

/// What `img-logs` prints.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep printing what the container writes until it stops (`-f`).
    pub follow: bool,
    /// Only the last N lines (`--tail`).
    pub tail: Option<usize>,
    /// Each line with its time (`-t`).
    pub timestamps: bool,
}

/// Print the container's log: its stdout to `out`, its stderr to `err`.
pub fn logs(
    store: &Store,
    container: &Container,
    options: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let dir = crate::Containers::of(store).dir_of(&container.id);
    let path = log::path(dir.path(), &container.id);
    let (mut entries, mut offset) = log::read(&path, 0)?;
    if let Some(n) = options.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    print_entries(&entries, options, out, err)?;
    if !options.follow {
        return Ok(());
    }
    let watch = Watch::new(
        dir.path(),
        &owner::runtime_dir(&store.state_dir()).join("owned"),
    )?;
    loop {
        // Read once more after it stopped: what it wrote last.
        let running = is_running(store, &reload(store, container));
        let (more, next) = log::read(&path, offset)?;
        offset = next;
        print_entries(&more, options, out, err)?;
        if !running {
            break;
        }
        watch.wait(None)?;
    }
    Ok(())
}

fn print_entries(
    entries: &[log::Entry],
    options: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    for entry in entries {
        let to: &mut dyn Write = if entry.stream == "stderr" {
            &mut *err
        } else {
            &mut *out
        };
        let written = if options.timestamps {
            write!(to, "{} {}", entry.time, entry.log)
        } else {
            to.write_all(entry.log.as_bytes())
        };
        written
            .and_then(|_| to.flush())
            .map_err(|e| Error::io("writing the log", e))?;
    }
    Ok(())
}

/// The store at `root`, and the container `query` names in it.
pub fn open(root: &Path, query: &str) -> Result<(Store, Container)> {
    let store = crate::open_store(root)?;
    let container = crate::Containers::of(&store).find(query)?;
    Ok((store, container))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_as_the_runtimes_take_them() {
        assert_eq!(signal_name("term").unwrap(), "SIGTERM");
        assert_eq!(signal_name("SIGKILL").unwrap(), "SIGKILL");
        assert_eq!(signal_name("9").unwrap(), "9");
        assert!(signal_name("NOPE").is_err());
        assert!(signal_name("0").is_err());
    }
}

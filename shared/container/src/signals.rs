//! Passing signals on to a running container, as `docker run`'s sig-proxy
//! does: INT, TERM, HUP, QUIT, USR1 and USR2 that img receives go to the
//! container's first process, and window size changes (WINCH) to its
//! terminal.
//!
//! The handlers are installed once for the whole program and stay: a
//! signal handler cannot be taken back without leaving the signal ignored,
//! and img-build runs many containers in turn. Between containers a
//! signal does what it would have done without img's handler (it ends the
//! program), so Ctrl-C and `timeout` work during a COPY as during a RUN.
//!
//! A build takes INT and TERM itself ([`on_stop`]): BuildKit passes no
//! signal on to a RUN step's process (PID 1 of its namespace, which ignores
//! what it does not handle) but cancels the build, killing every step
//! under way.

use std::fs::File;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

use super::console;
use img_core::error::{Error, Result};

/// The process signals go to (0: none, the signal acts as by default;
/// [`SOON`]: kept until the process is known).
static TARGET: AtomicI32 = AtomicI32::new(0);
/// [`TARGET`] while the container's process is being started.
const SOON: i32 = -1;
/// Signals that came while the process was being started; the lock also
/// orders a delivery against the target being set.
static PENDING: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// The terminal that window size changes go to.
static TERMINAL: Mutex<Option<File>> = Mutex::new(None);
/// What INT and TERM do instead while set (see [`on_stop`]).
static STOP: Mutex<Option<StopHook>> = Mutex::new(None);
/// Whether the handlers are installed (or why they could not be).
static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Signals go to `pid` (and size changes to `terminal`) until the value
/// returned is dropped.
pub(crate) struct Forwarding(());

impl Forwarding {
    /// Signals go to `pid` from now on, those that came while it was being
    /// started first.
    pub(crate) fn to(&self, pid: rustix::process::Pid) {
        let Ok(mut pending) = PENDING.lock() else {
            return;
        };
        TARGET.store(pid.as_raw_nonzero().get(), Ordering::SeqCst);
        for signal in pending.drain(..) {
            if let Some(sig) = rustix::process::Signal::from_named_raw(signal) {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        let pending = match PENDING.lock() {
            Ok(mut pending) => {
                TARGET.store(0, Ordering::SeqCst);
                std::mem::take(&mut *pending)
            }
            Err(_) => Vec::new(),
        };
        if let Ok(mut terminal) = TERMINAL.lock() {
            *terminal = None;
        }
        // The process never started: they do what they would have done.
        for signal in pending {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }
}

/// Pass signals on to `pid`, and window size changes to `terminal`.
pub(crate) fn forward_to(pid: rustix::process::Pid, terminal: Option<File>) -> Result<Forwarding> {
    install()?;
    if let Ok(mut slot) = TERMINAL.lock() {
        *slot = terminal;
    }
    TARGET.store(pid.as_raw_nonzero().get(), Ordering::SeqCst);
    Ok(Forwarding(()))
}

/// Pass signals on to a process about to start: those that come before
/// [`Forwarding::to`] names it are kept for it (a runtime's `run` starts
/// the process before it says which it is).
pub(crate) fn forward_soon() -> Result<Forwarding> {
    install()?;
    TARGET.store(SOON, Ordering::SeqCst);
    Ok(Forwarding(()))
}

/// Called with INT or TERM; whether it took the signal (else the signal
/// acts by default).
type StopHook = Box<dyn Fn(i32) -> bool + Send>;

/// INT and TERM call `hook` instead of going to a container, until the
/// value returned is dropped; a signal `hook` declines (returns false for)
/// acts by default — a build takes the first to cancel itself, and a
/// second ends the program at once.
pub fn on_stop(hook: impl Fn(i32) -> bool + Send + 'static) -> Result<Stopping> {
    install()?;
    *STOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
    Ok(Stopping(()))
}

/// INT and TERM go to a hook until this is dropped: see [`on_stop`].
pub struct Stopping(());

impl Drop for Stopping {
    fn drop(&mut self) {
        *STOP.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn install() -> Result<()> {
    INSTALLED
        .get_or_init(|| {
            let mut signals = signal_hook::iterator::Signals::new([
                SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
            ])
            .map_err(|e| e.to_string())?;
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    deliver(signal);
                }
            });
            Ok(())
        })
        .clone()
        .map_err(|e| Error::io("handling signals", std::io::Error::other(e)))
}

fn deliver(signal: i32) {
    if signal == SIGWINCH {
        if let Ok(terminal) = TERMINAL.lock() {
            if let Some(master) = terminal.as_ref() {
                console::copy_size(master);
            }
        }
        return;
    }
    if signal == SIGINT || signal == SIGTERM {
        let stop = STOP.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hook) = stop.as_ref() {
            if !hook(signal) {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
            return;
        }
    }
    let Ok(mut pending) = PENDING.lock() else {
        return;
    };
    let target = TARGET.load(Ordering::SeqCst);
    if target == SOON {
        pending.push(signal);
        return;
    }
    drop(pending);
    let pid = rustix::process::Pid::from_raw(target);
    match (pid, rustix::process::Signal::from_named_raw(signal)) {
        (Some(pid), Some(sig)) => {
            let _ = rustix::process::kill_process(pid, sig);
        }
        _ => {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }
}

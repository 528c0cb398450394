//! A build stopped as BuildKit stops one: on SIGINT or SIGTERM, and at the
//! first stage that fails, every RUN step's process under way is killed —
//! not sent the signal (PID 1 of its namespace ignores what it does not
//! handle), not waited for — and every stage stops at its next step. The
//! build then fails as on any error: its directories and mounts go, no
//! image is stored or named.
//!
//! `docker build` ends with status 1 and `context canceled` on a signal
//! (its client cancels the build and exits); img-build, which is the
//! builder too, says the same, naming the signal. A step that moves bytes
//! instead of running a process — COPY and ADD, a pull, a cache's fetch,
//! the cache's export, a new layer written into the store — is stopped by
//! the process's cancel flag (`img_core::cancel`), which the signal raises
//! and their copy loops check between buffers. A step that waits on a peer
//! sending nothing (an ADD's server that never answers, a stalled
//! registry) checks no flag: a build that has not ended [`GRACE`] after
//! the signal is ended then, with the same error and status, its leftovers
//! swept by the next program as after kill -9. A second signal acts by
//! default at once (status 128 + the signal).

use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal};

use img_container::execute::Start;
use img_core::error::{Error, Kind, Result};

/// The build's stop: why it stopped, and the RUN processes to kill when it
/// does. Shared by the stages built at once.
#[derive(Default)]
pub(super) struct Cancel {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    why: Option<Why>,
    /// The processes of the RUN steps under way, each by a pidfd (an ID
    /// used again is never killed for theirs), by a number of their own.
    running: Vec<(u64, OwnedFd)>,
    next: u64,
}

/// Why a build stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// img-build got this signal.
    Signal(i32),
    /// This stage failed.
    Failed(usize),
}

impl Cancel {
    /// Stop the build for `why`, killing every RUN process under way;
    /// whether this stopped it (false: it was stopped already — a signal
    /// still takes the place of a failure, which a start over may undo).
    pub(super) fn stop(&self, why: Why) -> bool {
        let mut state = self.lock();
        match (state.why, why) {
            (None, _) | (Some(Why::Failed(_)), Why::Signal(_)) => state.why = Some(why),
            _ => return false,
        }
        for (_, pidfd) in state.running.drain(..) {
            // Gone already (ESRCH): nothing to kill.
            let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
        }
        true
    }

    /// Take the signal `signal`: stop the build; whether it ends by itself
    /// now (else the signal is to act by default: the build was stopped
    /// by a signal already). The caller raises the process's cancel flag
    /// and calls [`end_after_grace`]: not done here, so that unit tests
    /// stop a `Cancel` of their own, not their process.
    pub(super) fn take_signal(&self, signal: i32) -> bool {
        self.stop(Why::Signal(signal))
    }

    /// Go on after a failed stage stopped the build: the build starts over
    /// (see `step_cache.rs`). A signal stays.
    pub(super) fn resume(&self) {
        let mut state = self.lock();
        if matches!(state.why, Some(Why::Failed(_))) {
            state.why = None;
        }
    }

    /// Why the build stopped, if it did.
    pub(super) fn why(&self) -> Option<Why> {
        self.lock().why
    }

    /// Fails once the build is stopped: a stage stops at its next step.
    pub(super) fn check(&self) -> Result<()> {
        match self.why() {
            None => Ok(()),
            Some(why) => Err(stopped(why)),
        }
    }

    /// The error a step ends with: `error`, or what stopped the build when
    /// it did (its process killed for that, the step's own failure says
    /// nothing).
    pub(super) fn instead(&self, error: Error) -> Error {
        match self.why() {
            Some(why) => stopped(why),
            None => error,
        }
    }

    /// Watch a RUN step's process as execution tells of it: one about to
    /// start is refused once the build stopped, one running is killed when
    /// it stops (until `watched` is dropped).
    pub(super) fn watch<'c>(
        &'c self,
        start: Start,
        watched: &mut Option<Watched<'c>>,
    ) -> Result<()> {
        self.check()?;
        let Start::Running(pid) = start else {
            return Ok(());
        };
        let Some(pid) = Pid::from_raw(pid) else {
            return Ok(());
        };
        // Ended already: nothing to kill.
        let Ok(pidfd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else {
            return Ok(());
        };
        let mut state = self.lock();
        if let Some(why) = state.why {
            // Stopped since the check: killed by the caller for the error.
            return Err(stopped(why));
        }
        let token = state.next;
        state.next += 1;
        state.running.push((token, pidfd));
        *watched = Some(Watched {
            cancel: self,
            token,
        });
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A thread that panicked holding it fails the build anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A RUN process killed should the build stop, until dropped (it ended).
pub(super) struct Watched<'c> {
    cancel: &'c Cancel,
    token: u64,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        self.cancel.lock().running.retain(|(t, _)| *t != self.token);
    }
}

/// How long a build stopped by a signal may take to end by itself: its
/// copy loops and RUN steps end within a fraction of this, its directories
/// and mounts are removed well within it.
const GRACE: Duration = Duration::from_secs(5);

/// End img-build [`GRACE`] after `signal` stopped it unless it ended by
/// itself: a step waiting on a peer that sends nothing checks no flag.
pub(super) fn end_after_grace(signal: i32) {
    std::thread::spawn(move || {
        std::thread::sleep(GRACE);
        // As `img_cli::run_main` prints an error (a tier this one is below).
        eprintln!("img-build: error: {}", stopped(Why::Signal(signal)));
        std::process::exit(1);
    });
}

/// The error of a step the stop ended (a stage stopped for another one's
/// failure reports that failure instead: see `parallel.rs`).
fn stopped(why: Why) -> Error {
    let message = match why {
        Why::Signal(signal) => format!(
            "context canceled: img-build got {}; the steps under way were stopped and no image \
             was made",
            signal_name(signal)
        ),
        Why::Failed(_) => "context canceled: another stage failed".to_string(),
    };
    Error::new(Kind::FailedPrecondition, message)
}

fn signal_name(signal: i32) -> String {
    match Signal::from_named_raw(signal) {
        Some(Signal::INT) => "SIGINT".into(),
        Some(Signal::TERM) => "SIGTERM".into(),
        _ => format!("signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_stop_kills_the_watched_and_refuses_the_next() {
        let cancel = Cancel::default();
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let mut unwatched = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = child.id() as i32;
        let mut watched = None;
        cancel.watch(Start::Imminent, &mut watched).unwrap();
        cancel.watch(Start::Running(pid), &mut watched).unwrap();
        assert!(cancel.check().is_ok());
        assert!(cancel.stop(Why::Signal(Signal::TERM.as_raw())));
        assert!(!cancel.stop(Why::Failed(0)), "the first stop stays");
        assert!(
            !cancel.stop(Why::Signal(Signal::INT.as_raw())),
            "a second signal"
        );
        cancel.resume();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        assert!(unwatched.try_wait().unwrap().is_none(), "only the watched");
        unwatched.kill().unwrap();
        unwatched.wait().unwrap();
        let error = cancel.check().unwrap_err().to_string();
        assert!(error.contains("context canceled") && error.contains("SIGTERM"));
        let mut next = None;
        assert!(cancel.watch(Start::Imminent, &mut next).is_err());
        assert_eq!(cancel.why(), Some(Why::Signal(Signal::TERM.as_raw())));
        drop(watched);
        let idle = Cancel::default();
        assert!(idle.take_signal(Signal::TERM.as_raw()));
        assert!(!idle.take_signal(Signal::TERM.as_raw()), "a second one");
        // A failure is undone by a start over.
        let failed = Cancel::default();
        assert!(failed.stop(Why::Failed(1)));
        assert!(failed.check().is_err());
        failed.resume();
        assert!(failed.check().is_ok());
        assert!(failed.stop(Why::Failed(2)));
        assert!(
            failed.stop(Why::Signal(Signal::TERM.as_raw())),
            "a signal after it"
        );
        failed.resume();
        assert!(failed.check().is_err(), "a signal stays");
    }
}

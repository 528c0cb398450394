//! Waiting for this process's children, each by its own waiter.
//!
//! A build runs the RUN steps of independent stages at once, each on a
//! thread of its own, beside pulls whose credential helpers are children
//! too; so a wait reaps only the child it waits for (`waitid(P_PID)`),
//! never any child (`wait(-1)`), which would take another thread's child
//! from under it. What is left are children nobody waits for: a
//! container's guard, and a container's process whose runtime died before
//! it (adopted, as img is a subreaper: see `runtime.rs`). Those are handed
//! over by a pidfd — an ID used again by another process is never taken
//! for theirs — and reaped by the first wait after they end.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use rustix::process::{Pid, WaitId, WaitIdOptions};

use img_core::error::{Error, Result};

/// Children of this process that nobody waits for, each by a pidfd (so
/// that an ID used again is never taken for it): a container's guard, or a
/// container's process whose runtime ended before it (adopted, as we are a
/// subreaper). [`wait`] reaps those that have ended.
static UNWAITED: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Wait for the process `pid` (a child) to end; its exit status, or 128 +
/// the signal that killed it.
///
/// Only `pid` is reaped, and the ended children nobody waits for (see
/// [`reap_later`]): every other child is its waiter's, so that containers
/// run at once by a build's threads, and the helpers its pulls start, are
/// each waited for by their own thread.
pub(crate) fn wait(pid: Pid) -> Result<i32> {
    let status = loop {
        match rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED) {
            Ok(Some(status)) => break status,
            Ok(None) | Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::io("waiting for the container", e.into())),
        }
    };
    reap_ended();
    Ok(status
        .exit_status()
        .or_else(|| status.terminating_signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// Reap the child `pidfd` names once it ends, as nobody waits for it: now,
/// if it has ended, or at a later [`wait`]. A process that is not our
/// child when handed over (a container's process its runtime reaped) is let
/// go: hand one over only once it can no longer become ours.
pub(crate) fn reap_later(pidfd: OwnedFd) {
    let mut unwaited = UNWAITED.lock().unwrap_or_else(|e| e.into_inner());
    unwaited.push(pidfd);
    unwaited.retain(still_to_reap);
}

fn reap_ended() {
    UNWAITED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(still_to_reap);
}

/// Reap the child `pidfd` names if it has ended; whether it is still to be
/// reaped (our child, running).
fn still_to_reap(pidfd: &OwnedFd) -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    loop {
        match rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), options) {
            Ok(None) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            // Reaped now; or not our child (ECHILD): its parent reaped it
            // before it could be orphaned.
            Ok(Some(_)) | Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// A child that has ended, not reaped: its ID.
    fn ended_child(program: &str) -> (std::process::Child, Pid) {
        let child = Command::new(program).spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        // Blocks until it has ended, leaving it to be reaped.
        rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
        (child, pid)
    }

    #[test]
    #[expect(clippy::zombie_processes, reason = "reaped by the code under test")]
    fn a_wait_reaps_its_own_child_and_the_unwaited_but_no_other() {
        // Another thread's child, ended before the wait starts: wait(-1)
        // would reap it first, and its own waiter would find no child.
        let (mut other, _) = ended_child("false");
        let (_, pid) = ended_child("true");
        assert_eq!(wait(pid).unwrap(), 0);
        assert_eq!(other.wait().unwrap().code(), Some(1));
        let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = Pid::from_raw(sleeper.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        assert_eq!(wait(pid).unwrap(), 128 + 9);

        // In one test with the waits above: a wait of another test could
        // reap the children handed over here.
        let alive = |pid: Pid| Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists();
        let (_, unwaited) = ended_child("true");
        let pidfd =
            rustix::process::pidfd_open(unwaited, rustix::process::PidfdFlags::empty()).unwrap();
        // Ended already: reaped at once.
        reap_later(pidfd);
        assert!(!alive(unwaited), "reaped when handed over");
        // Running when handed over: reaped by the first wait after it ends.
        let mut later = Command::new("sh")
            .args(["-c", "read x"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(later.id() as i32).unwrap();
        reap_later(rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap());
        assert!(alive(pid));
        drop(later.stdin.take());
        rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
        assert!(alive(pid), "a zombie until a wait");
        let (_, next) = ended_child("true");
        wait(next).unwrap();
        assert!(!alive(pid), "reaped by the next wait");
    }
}

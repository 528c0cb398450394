//! Runtime processes making a container, as a reaper finds them: a dead
//! owner's `create` or `run` goes on and makes the container after its
//! owner died, so a reaper (`owner.rs`) waits for it before it ends what
//! the runtime has — a `create` until it ends, a `run` until it started
//! the container's process or gave up (its pid file, `pidfile.rs`).
//!
//! Such a process is found by its command line: the store's runtime
//! directory (its `--root`), `create` or `run`, and the container's ID.
//! It names them from its first instruction: its owner's lock, which the
//! reaper waits for, is let go only when the exec that gives it that
//! command line has finished (a lock goes when the last descriptor of it
//! closes, which for a descriptor closed on exec is on the way back from
//! the exec).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a reaper waits for a dead owner's `create` or `run` to make
/// the container.
const CREATE_GRACE: Duration = Duration::from_secs(60);

/// Wait until no runtime `create` of the container `id` of this store is
/// under way, and every `run` of it has either started the container's
/// process or ended (at most [`CREATE_GRACE`]): what they make is then in
/// the runtime's state, to be ended through it. Such a process names the
/// store's runtime directory (its `--root`), `create` or `run`, and the ID
/// on its command line; each one found is waited for through a pidfd, so
/// a reused process ID is never mistaken for it.
pub(crate) fn wait_for_creates(runtime: &Path, id: &str) {
    let deadline = Instant::now() + CREATE_GRACE;
    for pid in creates_under_way(runtime, id) {
        let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        else {
            continue; // It ended already.
        };
        // The process may have ended, and its ID been reused, between the
        // listing and the pidfd: look at it again through the pidfd's ID.
        let Some(making) = making_of(pid.as_raw_nonzero().get(), runtime, id) else {
            continue;
        };
        match making {
            // A `run` stays to wait for the container: what counts is
            // that it started it (its pid file) or gave up.
            Making::Run { pid_file } => {
                let _ = super::pidfile::wait(&pid_file, &pidfd, Some(deadline));
            }
            Making::Create => wait_for_end(&pidfd, deadline),
        }
    }
}

fn wait_for_end(pidfd: &std::os::fd::OwnedFd, deadline: Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(timeout) = rustix::event::Timespec::try_from(left) else {
            break;
        };
        let mut fds = [rustix::event::PollFd::new(
            pidfd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            // Readable: it ended. Zero: the deadline passed.
            _ => break,
        }
    }
}

fn creates_under_way(runtime: &Path, id: &str) -> Vec<rustix::process::Pid> {
    super::owner::list(Path::new("/proc"))
        .iter()
        .filter_map(|name| name.parse::<i32>().ok())
        .filter(|&pid| making_of(pid, runtime, id).is_some())
        .filter_map(rustix::process::Pid::from_raw)
        .collect()
}

/// What a runtime process making a container does.
enum Making {
    /// `create`: done when it ends.
    Create,
    /// `run`: done once it wrote its pid file (or ended).
    Run { pid_file: PathBuf },
}

/// Whether the process `pid` is a runtime making the container `id` of the
/// store whose runtime directory is `runtime`, and how.
fn making_of(pid: i32, runtime: &Path, id: &str) -> Option<Making> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let runtime = runtime.as_os_str().as_encoded_bytes();
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    if !args.contains(&id.as_bytes()) || !args.iter().any(|a| a.starts_with(runtime)) {
        return None;
    }
    if args.contains(&&b"create"[..]) {
        return Some(Making::Create);
    }
    if !args.contains(&&b"run"[..]) {
        return None;
    }
    let pid_file = args
        .iter()
        .position(|a| *a == b"--pid-file")
        .and_then(|i| args.get(i + 1))?;
    Some(Making::Run {
        pid_file: PathBuf::from(OsStr::from_bytes(pid_file)),
    })
}

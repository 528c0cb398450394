//! The runtime's pid file, as the sign that a `run` has started the
//! container's process.
//!
//! `RUNTIME run --pid-file FILE` writes FILE (by a rename, so it appears
//! whole) once the container's first process runs, then stays to wait for
//! it; a `run` that fails before the process starts exits without writing
//! it. So what happened is told apart by which comes first: the file, or
//! the end of the `run` process. Both are waited for without looking again
//! every few milliseconds: the file's directory through inotify (set
//! before the first look, so a write between the look and the wait is not
//! missed), the process through a pidfd. img-run waits so (`runtime.rs`),
//! and so does a reaper that finds a dead owner's `run` under way
//! (`owner.rs`): the container is then either started, and can be ended
//! through the runtime, or never will be.

use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::process::Pid;

use img_core::error::{Error, Result};

/// How a wait for a pid file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The file names this process: the container's process runs.
    Written(Pid),
    /// The process that was to write it ended without writing it.
    Ended,
    /// The deadline passed first.
    TimedOut,
}

/// Wait until `path` names a process, or the process `runner` (a pidfd)
/// ended, or `deadline` passed.
pub(crate) fn wait(path: &Path, runner: &OwnedFd, deadline: Option<Instant>) -> Result<Seen> {
    let fail =
        |e: rustix::io::Errno| Error::io(format!("waiting for {}", path.display()), e.into());
    let watch = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(fail)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    inotify::add_watch(
        &watch,
        dir,
        WatchFlags::MOVED_TO | WatchFlags::CLOSE_WRITE | WatchFlags::CREATE,
    )
    .map_err(fail)?;
    loop {
        if let Some(pid) = read(path) {
            return Ok(Seen::Written(pid));
        }
        let timeout = match deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Seen::TimedOut);
                }
                Some(
                    rustix::event::Timespec::try_from(left)
                        .map_err(|_| Error::invalid("a wait too long to say"))?,
                )
            }
            None => None,
        };
        let mut fds = [
            PollFd::new(&watch, PollFlags::IN),
            PollFd::new(runner, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(fail(e)),
        }
        if !fds[1].revents().is_empty() {
            // It ended: the file is there now or never will be.
            return Ok(match read(path) {
                Some(pid) => Seen::Written(pid),
                None => Seen::Ended,
            });
        }
        drain(watch.as_fd());
    }
}

/// The process `path` names, once it is written.
pub(crate) fn read(path: &Path) -> Option<Pid> {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .and_then(Pid::from_raw)
}

fn drain(watch: rustix::fd::BorrowedFd<'_>) {
    let mut space = [MaybeUninit::<u8>::uninit(); 4096];
    let mut reader = inotify::Reader::new(watch, &mut space);
    while reader.next().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    fn pidfd(child: &std::process::Child) -> OwnedFd {
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap()
    }

    #[test]
    fn a_written_file_an_ended_writer_and_a_deadline_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        // Written by a rename while the writer lives on.
        let script = format!(
            "echo 4242 > {0}.tmp && mv {0}.tmp {0} && read x",
            path.display()
        );
        let mut writer = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Some(Instant::now() + Duration::from_secs(30));
        let seen = wait(&path, &pidfd(&writer), deadline).unwrap();
        assert_eq!(seen, Seen::Written(Pid::from_raw(4242).unwrap()));
        drop(writer.stdin.take());
        writer.wait().unwrap();
        // A writer that ends without writing.
        fs::remove_file(&path).unwrap();
        let mut quitter = Command::new("true").spawn().unwrap();
        let fd = pidfd(&quitter);
        assert_eq!(wait(&path, &fd, deadline).unwrap(), Seen::Ended);
        quitter.wait().unwrap();
        // Neither, before the deadline.
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let soon = Some(Instant::now() + Duration::from_millis(50));
        assert_eq!(wait(&path, &pidfd(&sleeper), soon).unwrap(), Seen::TimedOut);
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }
}

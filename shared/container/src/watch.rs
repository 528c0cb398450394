//! Waiting for a container to change, woken by the kernel (inotify)
//! rather than by looking again every few milliseconds: `img-logs -f`,
//! `img-start -a`, `img-stop` and `img-rm -f` wait this way.
//!
//! Every change they wait for comes with an event in one of two
//! directories: the container's own (its log written or rotated, its
//! record replaced, its lock file closed by a monitor or img-run that let
//! go of it), and the store's `runtime/owned` (an owner's lock file closed
//! or removed). A lock is released when its file is closed — at the latest
//! when its holder dies, killed or not — so a closed lock file is the
//! event for "the owner let go". Events of other containers wake a waiter
//! too; it looks, finds nothing changed, and waits again. The watches are
//! set before the waiter first looks, so a change between its look and
//! its wait is not missed.

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Instant;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use img_core::error::{Error, Result};

/// The watches on one container's changes.
pub struct Watch {
    inotify: OwnedFd,
}

impl Watch {
    /// Watch the container directory `dir` and the owners' directory
    /// `owned` (made when missing, so that it can be watched).
    pub fn new(dir: &Path, owned: &Path) -> Result<Watch> {
        let fail = |e: rustix::io::Errno| Error::io("watching the container", e.into());
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(fail)?;
        std::fs::create_dir_all(owned)
            .map_err(|e| Error::io(format!("creating {}", owned.display()), e))?;
        let changes = WatchFlags::MODIFY
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::MOVED_TO
            | WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::DELETE_SELF;
        for path in [dir, owned] {
            inotify::add_watch(&inotify, path, changes).map_err(fail)?;
        }
        Ok(Watch { inotify })
    }

    /// Block until something changed, or until `deadline` (when there is
    /// one); whether something changed. The events are used up.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let timeout = match deadline {
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(self.drain());
                    }
                    Some(
                        rustix::event::Timespec::try_from(left)
                            .map_err(|_| Error::invalid("a wait too long to say"))?,
                    )
                }
                None => None,
            };
            let mut fds = [rustix::event::PollFd::new(
                &self.inotify,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(self.drain()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::io("waiting for the container", e.into())),
            }
        }
    }

    /// Read every event queued; whether there was one.
    fn drain(&self) -> bool {
        let mut space = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.inotify, &mut space);
        let mut any = false;
        while reader.next().is_ok() {
            any = true;
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_write_a_closed_lock_and_a_deadline_end_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let container = dir.path().join("c");
        let owned = dir.path().join("owned");
        std::fs::create_dir(&container).unwrap();
        let watch = Watch::new(&container, &owned).unwrap();
        let soon = || Some(Instant::now() + Duration::from_millis(20));
        assert!(!watch.wait(soon()).unwrap(), "nothing happened");
        std::fs::write(container.join("x-json.log"), b"{}\n").unwrap();
        assert!(watch.wait(soon()).unwrap());
        assert!(!watch.wait(soon()).unwrap(), "the events were used up");
        // A lock's holder dying closes its file.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(owned.join("id.lock"))
            .unwrap();
        watch.drain();
        drop(lock);
        assert!(watch.wait(None).unwrap());
        // Looking at a file without writing wakes nobody.
        let _ = std::fs::read(container.join("x-json.log")).unwrap();
        assert!(!watch.wait(soon()).unwrap());
    }
}

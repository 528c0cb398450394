//! The gc lock protocol: how writers and collectors share a store so that
//! neither starves the other.
//!
//! ```text
//! ROOT/.img/lock/gc        writers hold it shared for as long as they write;
//!                          a collector holds it exclusively while it sweeps
//! ROOT/.img/lock/gc-queue  the turnstile: a writer passes it (shared, for a
//!                          moment) on its way in; a collector holds it
//!                          exclusively from the moment it starts to wait
//!                          until its sweep is done
//! ```
//!
//! flock(2) grants a shared lock whenever no exclusive one is *held*, so a
//! collector waiting for `gc` alone would wait for ever while writers keep
//! overlapping. With the turnstile, a collector that comes takes `gc-queue`
//! first: writers already in finish, new ones queue behind it, and it gets
//! `gc` once the last writer that was in leaves. Both waits are bounded: a
//! collector waits at most [`collector_wait`] for the writers that were in
//! (then it gives up, naming them, and lets the queue through), and a writer
//! waits at most [`writer_wait`] behind a collector (a stuck one is named).
//! A collector that only tries (img-rm's sweep after a removal) takes `gc`
//! if it is free at once and never queues.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::open_lock_file;
use img_core::error::{Error, IoContext, Kind, Result};

/// The lock writers share and collectors hold alone.
pub(crate) const GC: &str = "gc";
/// The turnstile in front of it.
pub(crate) const QUEUE: &str = "gc-queue";

/// The variable that sets how many seconds a collector waits for the
/// writers in the store (fractions allowed).
pub const WAIT_VARIABLE: &str = "IMG_GC_WAIT";

/// How long a collector waits for the writers in the store when it comes
/// (`$IMG_GC_WAIT` seconds, else 60 s).
pub fn collector_wait() -> Duration {
    std::env::var(WAIT_VARIABLE)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// How long a writer waits behind a collector: ten times the collector's
/// own wait, so that a collector that waits its full time and then sweeps
/// a large store still comes out first.
pub fn writer_wait() -> Duration {
    collector_wait() * 10
}

/// Enter the store as a writer: through the turnstile, then `gc` shared on
/// `gc_file` (the caller keeps it open for as long as it writes).
pub(crate) fn enter_writer(lock_dir: &Path, gc_file: &File) -> Result<()> {
    let queue = open_lock_file(&lock_dir.join(QUEUE))?;
    if queue.try_lock_shared().is_err() {
        let collector = holders(&lock_dir.join(QUEUE), true);
        eprintln!(
            "{}: waiting for {} to finish collecting garbage in the store",
            program(),
            describe(&collector, "the garbage collection")
        );
        let deadline = Instant::now() + writer_wait();
        if !poll(deadline, || queue.try_lock_shared().is_ok()) {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "gave up after {} waiting for {} to finish collecting garbage in the store; \
                     if it is stuck, end it and try again",
                    seconds(writer_wait()),
                    describe(
                        &holders(&lock_dir.join(QUEUE), true),
                        "the garbage collection"
                    )
                ),
            ));
        }
    }
    // Past the turnstile no collector can hold `gc`, except one that only
    // tries and sweeps at once: this wait is short.
    gc_file
        .lock_shared()
        .io_context(|| "waiting for the store's gc lock".into())?;
    drop(queue);
    Ok(())
}

/// `gc` held exclusively (with the turnstile, when the collector waited);
/// [`Exclusive::release`] gives it back.
pub(crate) struct Exclusive<'f> {
    gc: &'f File,
    queue: Option<File>,
}

impl Exclusive<'_> {
    /// Back to what the process held before: `gc` shared when it is a
    /// writer (it may still be writing), else nothing; then the turnstile
    /// opens.
    pub(crate) fn release(self, writer: bool) -> Result<()> {
        if writer {
            self.gc
                .lock_shared()
                .io_context(|| "re-taking the gc lock".into())?;
        } else {
            let _ = self.gc.unlock();
        }
        drop(self.queue);
        Ok(())
    }
}

/// How a collector takes `gc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Only when it is free now.
    No,
    /// Through the turnstile, for up to `budget` (normally
    /// [`collector_wait`]); `say` prints a line when it has to wait.
    Bounded {
        /// How long to wait for the writers in the store.
        budget: Duration,
        /// Print why it waits.
        say: bool,
    },
}

/// Take `gc` exclusively on `gc_file` (which may hold it shared already:
/// the process is a writer, then `writer`). `Ok(None)`: not free now
/// ([`Wait::No`]). A bounded wait that runs out is a Conflict error naming
/// the writers.
pub(crate) fn lock_exclusive<'f>(
    lock_dir: &Path,
    gc_file: &'f File,
    writer: bool,
    wait: Wait,
) -> Result<Option<Exclusive<'f>>> {
    let gc_path = lock_dir.join(GC);
    if wait == Wait::No {
        if gc_file.try_lock().is_ok() {
            return Ok(Some(Exclusive {
                gc: gc_file,
                queue: None,
            }));
        }
        // A failed conversion drops the shared lock this process held
        // (flock converts by unlocking first): take it back.
        if writer {
            gc_file
                .lock_shared()
                .io_context(|| "re-taking the gc lock".into())?;
        }
        return Ok(None);
    }
    let Wait::Bounded { budget, say } = wait else {
        return Ok(None);
    };
    let deadline = Instant::now() + budget;
    let queue = open_lock_file(&lock_dir.join(QUEUE))?;
    // Writers pass the turnstile in a moment; another collector holds it
    // for its own bounded wait and sweep.
    if !poll(deadline + writer_wait(), || queue.try_lock().is_ok()) {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "gave up waiting for {} to finish collecting garbage in the store",
                describe(&holders(&lock_dir.join(QUEUE), true), "another collection")
            ),
        ));
    }
    // This process's own shared lock must not stand in its way.
    if writer {
        let _ = gc_file.unlock();
    }
    let mut said = false;
    let got = poll(deadline, || {
        if gc_file.try_lock().is_ok() {
            return true;
        }
        if say && !said {
            said = true;
            eprintln!(
                "{}: waiting for the programs writing to the store to finish ({}); \
                 new writers wait behind this one, for at most {}",
                program(),
                describe(&holders(&gc_path, false), "unknown programs"),
                seconds(budget)
            );
        }
        false
    });
    if got {
        return Ok(Some(Exclusive {
            gc: gc_file,
            queue: Some(queue),
        }));
    }
    let writers = holders(&gc_path, false);
    if writer {
        gc_file
            .lock_shared()
            .io_context(|| "re-taking the gc lock".into())?;
    }
    drop(queue);
    Err(Error::new(
        Kind::Conflict,
        format!(
            "gave up after {} waiting for the programs writing to the store to finish ({}); \
             nothing was collected: run it again when they are done (or set {WAIT_VARIABLE} \
             to wait longer)",
            seconds(budget),
            describe(&writers, "unknown programs")
        ),
    ))
}

/// Call `ready` until it says yes or `deadline` passes, sleeping a little
/// longer each time (1 ms up to 50 ms); whether it said yes.
fn poll(deadline: Instant, mut ready: impl FnMut() -> bool) -> bool {
    let mut pause = Duration::from_millis(1);
    loop {
        if ready() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A process holding a lock, as `/proc/locks` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// Its process ID.
    pub pid: i32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

/// The processes holding the flock on `path` (only exclusive holders when
/// `exclusive`), from `/proc/locks`; empty when it cannot be read.
pub(crate) fn holders(path: &Path, exclusive: bool) -> Vec<Holder> {
    let Ok(stat) = rustix::fs::stat(path) else {
        return Vec::new();
    };
    let Ok(table) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let device = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(stat.st_dev),
        rustix::fs::minor(stat.st_dev),
        stat.st_ino
    );
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut found: Vec<Holder> = Vec::new();
    for line in table.lines() {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:02:5678 0 EOF"; waiters have
        // "->" before FLOCK.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, "FLOCK", _, kind, pid, file, ..] = fields.as_slice() else {
            continue;
        };
        if *file != device || (exclusive && *kind != "WRITE") {
            continue;
        }
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if pid == me || found.iter().any(|h| h.pid == pid) {
            continue;
        }
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| "a program".to_string());
        found.push(Holder { pid, name });
    }
    found
}

/// `img-build (pid 12), img-load (pid 14)`, or `otherwise` for nobody.
fn describe(holders: &[Holder], otherwise: &str) -> String {
    if holders.is_empty() {
        return otherwise.to_string();
    }
    holders
        .iter()
        .map(|h| format!("{} (pid {})", h.name, h.pid))
        .collect::<Vec<_>>()
        .join(", ")
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// This program's name, for the lines it prints while it waits.
fn program() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "img".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_names_the_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gc");
        let file = open_lock_file(&path).unwrap();
        file.lock_shared().unwrap();
        // This process is left out (it knows what it holds); a child holds
        // the lock the way another program would.
        assert!(holders(&path, false).is_empty());
        let mut child = std::process::Command::new("flock")
            .arg("-s")
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let found = loop {
            let found = holders(&path, false);
            if !found.is_empty() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, child.id() as i32);
        assert!(
            holders(&path, true).is_empty(),
            "a shared holder is not exclusive"
        );
    }

    #[test]
    fn a_bounded_wait_gives_up_and_lets_writers_in() {
        let dir = tempfile::tempdir().unwrap();
        let gc_path = dir.path().join(GC);
        let writer = open_lock_file(&gc_path).unwrap();
        enter_writer(dir.path(), &writer).unwrap();
        let collector = open_lock_file(&gc_path).unwrap();
        let wait = Wait::Bounded {
            budget: Duration::from_millis(200),
            say: false,
        };
        let err = lock_exclusive(dir.path(), &collector, false, wait)
            .err()
            .unwrap();
        assert_eq!(err.kind(), Kind::Conflict);
        assert!(err.to_string().contains("gave up after 0.2 s"), "{err}");
        assert!(lock_exclusive(dir.path(), &collector, false, Wait::No)
            .unwrap()
            .is_none());
        // The turnstile is open again: another writer gets in at once.
        let second = open_lock_file(&gc_path).unwrap();
        enter_writer(dir.path(), &second).unwrap();
        drop((writer, second));
        let got = lock_exclusive(dir.path(), &collector, false, wait)
            .unwrap()
            .unwrap();
        got.release(false).unwrap();
    }
}

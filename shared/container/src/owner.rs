//! Who owns a runtime container, and what happens when the owner dies.
//!
//! Every container img hands to an OCI runtime (img-run's, a detached
//! container's monitor's, img-build's RUN steps') is owned by exactly one
//! live process: the one holding the flock of
//! `ROOT/.img/runtime/owned/ID.lock`. The owner takes the lock *before* it
//! asks the runtime to create anything, and the runtime keeps its state
//! inside the store too (`runc --root ROOT/.img/runtime/runc`), so every
//! runtime container of a store can be found and its owner checked:
//!
//! ```text
//! ROOT/.img/runtime/runc/ID/     runc's own state (crun's beside it)
//! ROOT/.img/runtime/owned/ID.lock   flock held by the owner
//! ROOT/.img/runtime/owned/ID.json   the runtime programs tried, helper processes (pasta)
//! ```
//!
//! A lock that can be taken means its owner died (a killed img-run or
//! img-build, a killed monitor): [`reap`] then kills and deletes what the
//! runtime still has of the container, ends its helpers, and marks the
//! store's container record as exited (or removes it, for `--rm`). The
//! mounts go with the processes: they live in mount namespaces that die
//! with their last process. Every program calls [`reap`] when it opens the
//! store, `img-prune` and `img-fsck --repair` too.
//!
//! A container must also die *with* its owner, not only at the next
//! program: right after taking the lock, before the runtime is asked
//! anything, the owner starts a guard ([`spawn_guard`]), a copy of the
//! program itself under the name `img-guard`, in a process group of its
//! own, that blocks on the owner's lock and reaps the container the moment
//! the lock comes free while the runtime still has it — at once when the
//! owner was killed, a no-op when it finished normally.
//!
//! An owner can die while the runtime's `create` or `run` runs; it goes on
//! and makes the container afterwards (`runc init` waiting to be started,
//! or the container running under `run`). So a reap first waits for every
//! `create` of the container under way to end, and every `run` to start
//! the container's process or give up (`underway.rs`; a `run` says so with
//! its pid file, `pidfile.rs`), and ends what they made. A runtime process
//! forked by an owner killed before it executed the runtime holds the
//! owner's lock until that exec is done, so a guard never looks before it
//! can be found. Nothing of it holds the caller's streams (`stdio.rs`).
//!
//! Helpers (pasta) are found the same way, by the owner's file they name
//! on their command line, whether or not the owner lived to note them,
//! and by that file itself, pasta's pid file (`helpers.rs`); pasta is run
//! as the program it would execute first thing (`network.rs`), so that it
//! executes once.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

pub use super::helpers::Helper;
use super::helpers::{
    helper_files, kill_helper, named_helpers, signal_helper, unnoted_helpers, wait_gone,
};
use super::runtime::Runtime;
use img_core::error::{Error, IoContext, Kind, Result};
use img_store::{open_lock_file, same_file};

const OWNED: &str = "owned";

/// The name a guard process runs under (its `argv[0]`).
pub(crate) const GUARD: &str = "img-guard";

/// The store's runtime directory (`ROOT/.img/runtime`).
pub fn runtime_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runtime")
}

/// What the owner wrote down for a reaper.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Notes {
    /// The runtime programs that may hold state of the container.
    runtimes: Vec<Runtime>,
    /// Helper processes.
    helpers: Vec<Helper>,
}

/// The live owner of the runtime container `id`; dropping it without
/// [`Owner::release`] leaves the lock to be found free by a reaper.
#[derive(Debug)]
pub struct Owner {
    dir: PathBuf,
    id: String,
    lock: File,
    notes: Notes,
    /// The helpers killed so far (in the notes' order), by the ID each
    /// had when it was killed: `None` when it was gone already.
    ended: Vec<Option<rustix::process::Pid>>,
}

impl Owner {
    /// Become the owner of `id` (under the runtime directory `runtime`).
    /// Fails with `Conflict` when a live process owns it.
    pub fn claim(runtime: &Path, id: &str) -> Result<Owner> {
        let dir = runtime.join(OWNED);
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{id}.lock"));
        loop {
            let lock = open_lock_file(&path)?;
            if lock.try_lock().is_err() {
                return Err(Error::new(
                    Kind::Conflict,
                    format!(
                        "container {} is running (another img program owns it)",
                        short(id)
                    ),
                ));
            }
            // A reaper may have removed the file between our open and our
            // lock: the lock must be on the file the path names now.
            if same_file(&lock, &path) {
                return Ok(Owner {
                    dir,
                    id: id.to_string(),
                    lock,
                    notes: Notes::default(),
                    ended: Vec::new(),
                });
            }
        }
    }

    /// Note that `runtime` may hold state of the container from now on.
    pub(crate) fn add_runtime(&mut self, runtime: &Runtime) -> Result<()> {
        if !self.notes.runtimes.contains(runtime) {
            self.notes.runtimes.push(runtime.clone());
            self.save()?;
        }
        Ok(())
    }

    /// Note a helper process that must end with the container.
    pub(crate) fn add_helper(&mut self, helper: Helper) -> Result<()> {
        self.notes.helpers.push(helper);
        self.save()
    }

    /// The helpers noted so far.
    pub fn helpers(&self) -> &[Helper] {
        &self.notes.helpers
    }

    /// Kill the helpers, once the container's process ended: their end
    /// (pasta's is tens of milliseconds) goes on while the runtime and img
    /// take the container down; [`Owner::release`] waits for those that
    /// hold host ports.
    pub(crate) fn end_helpers(&mut self) {
        for helper in &self.notes.helpers[self.ended.len()..] {
            self.ended.push(signal_helper(helper));
        }
    }

    fn save(&self) -> Result<()> {
        // For a reaper while the machine runs: a crash ends every process
        // the notes name, so they need no sync.
        img_store::Replace::VISIBLE.write_json(
            &self.dir,
            &self.dir.join(format!("{}.json", self.id)),
            &self.notes,
        )
    }

    /// A file for a helper of the container (`ID.NAME` beside the lock);
    /// its path is the helper's marker.
    pub(crate) fn helper_file(&self, id: &str, name: &str) -> PathBuf {
        self.dir.join(format!("{id}.{name}"))
    }

    /// Let go of a container whose runtime state is gone: its helpers
    /// end, the files go, then the lock (a guard waiting for it finds
    /// nothing to do).
    pub fn release(mut self) {
        self.end_helpers();
        for (helper, pid) in self.notes.helpers.iter().zip(&self.ended) {
            // Its end takes a while (pasta detaches from its tap device,
            // which waits for an RCU grace period; see
            // `network::keep_interface`): waited for only when it frees
            // host ports.
            if let (true, Some(pid)) = (helper.holds_ports, pid) {
                wait_gone(*pid);
            }
            let _ = fs::remove_file(&helper.marker);
        }
        let _ = fs::remove_file(self.dir.join(format!("{}.json", self.id)));
        let _ = fs::remove_file(self.dir.join(format!("{}.lock", self.id)));
        drop(self.lock);
    }
}

/// Whether a live process owns `id`.
pub fn is_owned(runtime: &Path, id: &str) -> bool {
    let path = runtime.join(OWNED).join(format!("{id}.lock"));
    match fs::File::open(&path) {
        Ok(file) => file.try_lock_shared().is_err(),
        Err(_) => false,
    }
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

/// What a reap found and ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// The container IDs whose owner had died.
    pub ids: Vec<String>,
}

/// Find every runtime container of the store whose owner died and end it:
/// its processes and runtime state, its helpers; `after` is told each ID
/// (to mark the store's record). See the module docs.
pub fn reap(runtime: &Path, after: &mut dyn FnMut(&str)) -> Result<Reaped> {
    let mut ids = Vec::new();
    // Owned containers, and runtime state nobody claims (a lock file lost).
    let owned = runtime.join(OWNED);
    for name in list(&owned) {
        if let Some(id) = name.strip_suffix(".lock") {
            ids.push(id.to_string());
        }
    }
    for entry in list(runtime) {
        if entry == OWNED {
            continue;
        }
        for id in list(&runtime.join(&entry)) {
            if !ids.contains(&id) && is_container_id(&id) {
                ids.push(id);
            }
        }
    }
    let mut reaped = Reaped::default();
    for id in ids {
        if reap_one_then(runtime, &id, after)? {
            reaped.ids.push(id);
        }
    }
    Ok(reaped)
}

/// End the container `id` when its owner died; whether it did.
pub fn reap_one(runtime: &Path, id: &str) -> Result<bool> {
    reap_one_then(runtime, id, &mut |_| {})
}

/// [`reap_one`], telling `after` (which marks the store's record) once
/// the container is ended but before its lock file goes: the lock file is
/// what makes a reap find the container, so a reaper killed before it
/// marked the record (every program reaps, an img-run killed at random
/// too) leaves the whole reap to the next one, not a record saying the
/// container runs that nothing would reap again.
fn reap_one_then(runtime: &Path, id: &str, after: &mut dyn FnMut(&str)) -> Result<bool> {
    let owned = runtime.join(OWNED);
    let path = owned.join(format!("{id}.lock"));
    let lock = if path.exists() {
        let lock = open_lock_file(&path)?;
        if lock.try_lock().is_err() || !same_file(&lock, &path) {
            return Ok(false);
        }
        Some(lock)
    } else {
        None
    };
    // The owner may have died while the runtime was creating the
    // container: the `create` goes on and makes it afterwards. Deleting
    // before it is done would miss what it makes.
    super::underway::wait_for_creates(runtime, id);
    let notes: Notes = fs::read(owned.join(format!("{id}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for helper in &notes.helpers {
        kill_helper(helper);
        let _ = fs::remove_file(&helper.marker);
    }
    // Looked for again after each kill: one killed while it became a
    // daemon may have forked the daemon between the look and the kill.
    // Each look is by command line and by pid file: a look lists /proc
    // and then reads each command line, and pasta may fork its daemon
    // after the listing and exit before its line is read (it is then
    // empty) — but it wrote the daemon's ID in its pid file first. The
    // files go only once nothing is left for them to name.
    let mut markers = Vec::new();
    for _ in 0..20 {
        let mut found = unnoted_helpers(&owned, id);
        found.extend(named_helpers(&owned, id));
        if found.is_empty() {
            break;
        }
        for helper in &found {
            kill_helper(helper);
            markers.push(helper.marker.clone());
        }
    }
    for marker in markers {
        let _ = fs::remove_file(marker);
    }
    // Nothing is left for the others to name either (a pid file naming a
    // pasta that died on its own, with the namespace it served).
    for file in helper_files(&owned, id) {
        let _ = fs::remove_file(file);
    }
    for entry in list(runtime) {
        if entry == OWNED || !runtime.join(&entry).join(id).exists() {
            continue;
        }
        let program = notes
            .runtimes
            .iter()
            .find(|r| r.state_name() == entry)
            .cloned()
            .or_else(|| {
                super::runtime::candidates(Some(&entry))
                    .ok()?
                    .into_iter()
                    .next()
            });
        if let Some(rt) = program {
            let _ = rt.in_store(runtime).delete(id);
        }
        // A runtime that cannot delete it (its program gone): its state
        // names processes that died with their namespace or live on
        // unreachable; the directory goes so that the reap ends.
        let _ = fs::remove_dir_all(runtime.join(&entry).join(id));
    }
    after(id);
    let _ = fs::remove_file(owned.join(format!("{id}.json")));
    let _ = fs::remove_file(&path);
    drop(lock);
    Ok(true)
}

/// The names in `dir` (none when it cannot be read).
pub(crate) fn list(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Start a guard for `id` (see the module docs). It runs on after this
/// process, in a process group of its own, and needs no waiting for.
pub(crate) fn spawn_guard(runtime: &Path, id: &str) -> Result<()> {
    let exe = std::env::current_exe().io_context(|| "finding img's own program".into())?;
    use std::os::unix::process::CommandExt;
    let guard = Command::new(exe)
        .arg0(GUARD)
        .arg(runtime)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .io_context(|| "starting the container's guard".into())?;
    // It ends with the container's owner, to be reaped then: nobody waits
    // for it (without a pidfd, it is a zombie until img ends).
    let pidfd = rustix::process::Pid::from_raw(guard.id() as i32).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    if let Some(pidfd) = pidfd {
        super::children::reap_later(pidfd);
    }
    Ok(())
}

/// The guard's body: wait for the owner's lock of `id`, then reap what the
/// owner left. Returns the exit code.
pub fn guard(runtime: &Path, id: &str) -> i32 {
    let state_dir = runtime.parent().unwrap_or(runtime);
    // Held from the start: a `--rm` container's directory, once thrown
    // away, is this guard's to empty, not a program's that opens the store.
    let held = super::trash::hold(&super::Containers::path_in(state_dir, id));
    let path = runtime.join(OWNED).join(format!("{id}.lock"));
    let Ok(lock) = File::open(&path) else {
        return 0;
    };
    // Blocks until the owner ends, however it ends.
    if lock.lock_shared().is_err() || !same_file(&lock, &path) {
        // It let go normally: a `--rm` container was thrown away before.
        let removed = super::trash::remove(state_dir, id);
        drop(held);
        return i32::from(removed.is_err());
    }
    drop(lock);
    drop(held);
    // Opening the store reaps every container whose owner died, this one
    // with its record (see `Store::reap_containers`), and sweeps the trash.
    let root = state_dir.parent().unwrap_or(runtime);
    match crate::open_store(root) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

/// Run as a guard when this process was started as one (`argv[0]` is
/// [`GUARD`]); programs call this first thing.
pub fn run_if_guard() {
    let mut args = std::env::args_os();
    if args.next().is_some_and(|a| a == GUARD) {
        let runtime = args.next().map(PathBuf::from).unwrap_or_default();
        let id = args
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::process::exit(guard(&runtime, &id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_live_owner_is_left_alone_and_a_dead_ones_container_is_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path();
        let owner = Owner::claim(runtime, ID).unwrap();
        assert!(is_owned(runtime, ID));
        assert!(Owner::claim(runtime, ID).is_err(), "one owner at a time");
        let mut seen = Vec::new();
        assert!(reap(runtime, &mut |id| seen.push(id.to_string()))
            .unwrap()
            .ids
            .is_empty());
        // Dropped without release: as if the owner died.
        drop(owner);
        // A child another test forks at this moment shares the lock's
        // open file until it executes its program: wait for that.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while is_owned(runtime, ID) {
            assert!(std::time::Instant::now() < deadline, "the lock stays held");
            std::thread::sleep(Duration::from_millis(1));
        }
        // State a runtime left without an owner file is found as well.
        let other = ID.replace('0', "f");
        fs::create_dir_all(runtime.join("no-such-runtime-xyz").join(&other)).unwrap();
        // A pid file of a helper that died on its own names nothing.
        let helper_file = runtime.join(OWNED).join(format!("{ID}.pasta"));
        fs::write(&helper_file, "999999999\n").unwrap();
        // The record is marked while the lock file is still there: a
        // reaper killed before that leaves the reap to the next one.
        let lock_file = runtime.join(OWNED).join(format!("{ID}.lock"));
        let reaped = reap(runtime, &mut |id| {
            seen.push(id.to_string());
            if id == ID {
                assert!(
                    lock_file.exists(),
                    "the record is marked after the lock went"
                );
            }
        })
        .unwrap();
        assert_eq!(reaped.ids.len(), 2, "{reaped:?}");
        assert_eq!(seen.len(), 2);
        assert!(!lock_file.exists());
        assert!(!helper_file.exists(), "a dead helper's pid file is left");
        // Released properly: nothing to reap.
        Owner::claim(runtime, ID).unwrap().release();
        assert!(reap(runtime, &mut |_| {}).unwrap().ids.is_empty());
    }

    #[test]
    fn a_helper_started_but_never_noted_is_ended_by_the_reap() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path();
        fs::create_dir_all(runtime.join(OWNED)).unwrap();
        let marker = runtime.join(OWNED).join(format!("{ID}.pasta"));
        // A process naming the helper file on its command line, as pasta
        // names its pid file, that no notes know of.
        let mut child = crate::helpers::tests::process_naming(&marker);
        let pid = child.id() as i32;
        // Another container's helper is spared.
        let other = ID.replace('0', "e");
        reap_one(runtime, &other).unwrap();
        assert!(
            child.try_wait().unwrap().is_none(),
            "another container's helper is spared"
        );
        reap_one(runtime, ID).unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the unnoted helper is killed and reaped"
        );
    }
}

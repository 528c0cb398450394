//! What interrupted programs leave behind, and containers against their
//! images.
//!
//! Some leftovers belong to a program while it runs — temporary blobs and
//! state files in `.img/ingest/`, scratch directories in `.img/snapshots/`,
//! img-build's directories in `.img/build/`, a container directory whose
//! record is not written yet, a removed container's directory in
//! `.img/trash/` that no guard empties and the store's opening could not
//! delete, temporary files beside `index.json` — and
//! are judged only when no writer is in the store (the gc lock held
//! exclusively): then nobody owns them. The others carry a lock of their
//! own and are judged any time: a partial download is abandoned when no
//! pull holds its flock and nobody wrote to it for
//! [`PARTIAL_MAX_AGE`](img_store::PARTIAL_MAX_AGE) (younger ones wait for
//! the next pull to resume them, and are no problem); a container record
//! that says it runs while nothing owns the container and its process is
//! gone is stale; the runtime's state of a container (kept in the store,
//! `.img/runtime/RUNTIME/ID`, see `container/owner.rs`) whose owner died is
//! left over. Opening the store reaps those already (every program does),
//! so what is found here is what that could not end.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{Class, Fix, Problem};
use img_container::{owner, Containers, State};
use img_core::digest::{self, Digest};
use img_core::error::Result;
use img_core::format::human_size_precision;
use img_core::image::Target;
use img_store::{
    file_usage, idle_since, partial_files, partial_name, Snapshots, Store, PARTIAL_MAX_AGE,
};

/// A leftover that is removed whole.
fn leftover(store: &Store, problems: &mut Vec<Problem>, path: PathBuf, what: &str) {
    let size = img_store::tree_size(&path);
    let shown = path
        .strip_prefix(store.root())
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string());
    problems.push(Problem {
        class: Class::Leftover,
        text: format!("{shown} ({}): {what}", human_size_precision(size, 4)),
        fix: Fix::Remove(path),
    });
}

/// The leftovers of writers; the caller holds the gc lock exclusively.
pub(super) fn of_writers(store: &Store, problems: &mut Vec<Problem>) -> Result<()> {
    for entry in read_dir(&store.state_dir().join("ingest")) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if partial_name(&name).is_none() {
            leftover(
                store,
                problems,
                entry.path(),
                "a temporary file of a write that never finished",
            );
        }
    }
    for entry in read_dir(store.root()) {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            leftover(
                store,
                problems,
                entry.path(),
                "a temporary file of an index.json update that never finished",
            );
        }
    }
    for entry in read_dir(&Snapshots::of(store).dir()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(img_store::SET_ASIDE_PREFIX) {
            leftover(
                store,
                problems,
                entry.path(),
                "a snapshot not synced before the machine went down, unpacked again since",
            );
        } else if name.starts_with("tmp-") {
            leftover(
                store,
                problems,
                entry.path(),
                "a layer being unpacked when its program ended",
            );
        }
    }
    for entry in read_dir(&store.state_dir().join("build")) {
        leftover(
            store,
            problems,
            entry.path(),
            "the directory of a build that never finished",
        );
    }
    // Opening the store swept the trash: what is left could not be
    // removed (an immutable file, a mount still on it).
    for path in img_container::trash::unheld(&store.state_dir())? {
        leftover(
            store,
            problems,
            path,
            "a removed container's directory that could not be deleted",
        );
    }
    for entry in read_dir(&store.state_dir().join("containers")) {
        if entry.path().is_dir()
            && Containers::of(store)
                .dir_of(&entry.file_name().to_string_lossy())
                .load()
                .is_err()
        {
            leftover(
                store,
                problems,
                entry.path(),
                "a container whose img-run ended before it wrote its record",
            );
        }
    }
    Ok(())
}

/// Containers: stale records, runtime state nobody owns, containers
/// against their images. Returns how many there are.
pub(super) fn containers(store: &Store, problems: &mut Vec<Problem>) -> Result<usize> {
    let runtime_dir = owner::runtime_dir(&store.state_dir());
    runtime_states(store, &runtime_dir, problems);
    let containers = Containers::of(store).list()?;
    if containers.is_empty() {
        return Ok(0);
    }
    let mut images: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for entry in store.index()?.entries() {
        let Ok(target) = store.load_target(&entry.descriptor) else {
            continue; // a damaged image is reported on its own
        };
        let found = match &target {
            Target::Image(image) => std::slice::from_ref(image.as_ref()),
            Target::Index(index) => index.images.as_slice(),
        };
        for image in found {
            let diff_ids = image.config.rootfs().diff_ids();
            images.insert(
                image.id().clone(),
                diff_ids
                    .iter()
                    .filter_map(|d| digest::parse(d).ok())
                    .collect(),
            );
        }
    }
    for c in &containers {
        let label = format!("container {} ({})", c.name, c.short_id());
        let dir = Containers::of(store).dir_of(&c.id);
        let held = dir.is_held() || owner::is_owned(&runtime_dir, &c.id);
        let orphan = matches!(c.state, State::Running { pid, .. } if !held && alive(pid));
        if let State::Running { pid, .. } = c.state {
            if orphan {
                problems.push(Problem {
                    class: Class::Leftover,
                    text: format!(
                        "{label}: its process (pid {pid}) runs, but no img-run supervises it: \
                         end it (kill {pid}), then run img-fsck --repair"
                    ),
                    fix: Fix::Manual,
                });
            } else if !held {
                problems.push(Problem {
                    class: Class::Leftover,
                    text: format!(
                        "{label}: its record says it runs, but its img-run and its process are gone"
                    ),
                    fix: Fix::Exited(c.id.clone()),
                });
            }
        }
        match images.get(&c.image) {
            Some(diff_ids) if diff_ids != &c.layers => problems.push(Problem {
                class: Class::Damage,
                text: format!(
                    "{label}: its record lists other layers than its image {} has",
                    digest::short(&c.image)
                ),
                fix: Fix::Manual,
            }),
            Some(_) => {}
            None => {
                // `img-rm -f` may remove a container's image, as `docker
                // rmi -f` does; its snapshots keep it whole.
                let lost = c
                    .layers
                    .iter()
                    .filter(|l| !Snapshots::of(store).path(l).is_dir())
                    .count();
                if lost > 0 {
                    problems.push(Problem {
                        class: Class::Damage,
                        text: format!(
                            "{label}: its image {} is gone and {lost} of its layers with it; \
                             it cannot run again (img-prune --containers removes it)",
                            digest::short(&c.image)
                        ),
                        fix: Fix::Manual,
                    });
                }
            }
        }
    }
    Ok(containers.len())
}

/// Partial downloads no pull continued for [`PARTIAL_MAX_AGE`] (and none
/// holds); returns how many younger ones wait for their pull, and their
/// bytes.
pub(super) fn partials(store: &Store, problems: &mut Vec<Problem>) -> (usize, u64) {
    let dir = store.state_dir().join("ingest");
    let now = SystemTime::now();
    let idle = |path: &Path| idle_since(path, now);
    let mut waiting = (0, 0);
    for entry in read_dir(&dir) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((hex, is_state)) = partial_name(&name) else {
            continue;
        };
        let (data, state) = partial_files(&dir, hex);
        if is_state {
            if !data.exists() && idle(&state).is_some_and(|a| a > PARTIAL_MAX_AGE) {
                leftover(
                    store,
                    problems,
                    state,
                    "the state of a download that is gone",
                );
            }
            continue;
        }
        let last = [idle(&data), idle(&state)].into_iter().flatten().min();
        let bytes = file_usage(&data);
        let held = fs::File::open(&data).is_ok_and(|f| f.try_lock().is_err());
        if held {
            continue; // a pull is working on it
        }
        if last.is_some_and(|a| a <= PARTIAL_MAX_AGE) {
            waiting.0 += 1;
            waiting.1 += bytes;
            continue;
        }
        let hours = last.map_or(0, |a| a.as_secs() / 3600);
        problems.push(Problem {
            class: Class::Leftover,
            text: format!(
                "partial download of sha256:{} ({}): no pull continued it for {hours} hours",
                &hex[..12],
                human_size_precision(bytes, 4)
            ),
            fix: Fix::Partial(hex.to_string()),
        });
    }
    waiting
}

/// The runtime's state of containers whose owner died (`owner.rs`): a
/// killed img-run, img-build or monitor that opening the store could not
/// reap.
fn runtime_states(store: &Store, runtime_dir: &Path, problems: &mut Vec<Problem>) {
    for runtime in read_dir(runtime_dir) {
        let name = runtime.file_name().to_string_lossy().into_owned();
        if !runtime.path().is_dir() || name == "owned" {
            continue;
        }
        for state in read_dir(&runtime.path()) {
            let id = state.file_name().to_string_lossy().into_owned();
            if id.len() != 64 || owner::is_owned(runtime_dir, &id) {
                continue;
            }
            let shown = state.path().strip_prefix(store.root()).map_or_else(
                |_| state.path().display().to_string(),
                |p| p.display().to_string(),
            );
            problems.push(Problem {
                class: Class::Leftover,
                text: format!(
                    "{shown}: {name} keeps the state of container {}, whose owner is gone",
                    short(&id)
                ),
                fix: Fix::Runtime { id },
            });
        }
    }
}

/// Whether the process `pid` exists and has not ended (a zombie whose
/// parent has not collected it yet has ended).
fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE …": COMM may hold spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// The first 12 characters of an ID, as Docker shows IDs.
pub(super) fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// The entries of a directory; none when it is missing.
fn read_dir(dir: &Path) -> Vec<fs::DirEntry> {
    fs::read_dir(dir)
        .map(|entries| entries.flatten().collect())
        .unwrap_or_default()
}

/// The container a repair marks as ended: it exited with 255, as Docker
/// marks a container whose daemon went away.
pub(super) fn mark_exited(store: &Store, id: &str) -> Result<bool> {
    let dir = Containers::of(store).dir_of(id);
    let Ok(mut record) = dir.load() else {
        return Ok(false);
    };
    let owned = owner::is_owned(&owner::runtime_dir(&store.state_dir()), id);
    if !matches!(record.state, State::Running { .. }) || dir.is_held() || owned {
        return Ok(false);
    }
    record.state = State::Exited {
        code: 255,
        finished: img_store::compose::timestamp(chrono::Utc::now()),
    };
    dir.save(&record)?;
    Ok(true)
}

/// End container `id` whose owner died: its processes and runtime state
/// (`owner.rs`), and mark its record; whether there was anything to end.
pub(super) fn reap(store: &Store, id: &str) -> Result<bool> {
    let runtime_dir = owner::runtime_dir(&store.state_dir());
    if !owner::reap_one(&runtime_dir, id)? {
        return Ok(false); // an owner took it up meanwhile
    }
    // What the reap could not remove (its fallback removes directories,
    // and a file another tool left there stays) would be found again by
    // every check: nothing owns it and no runtime can use it, so it goes.
    for runtime in read_dir(&runtime_dir) {
        let state = runtime.path().join(id);
        if runtime.file_name() != "owned" && fs::symlink_metadata(&state).is_ok() {
            img_store::remove_tree(&state)?;
        }
    }
    // The record, as every program's reap marks it.
    Containers::of(store).reap()?;
    Ok(true)
}

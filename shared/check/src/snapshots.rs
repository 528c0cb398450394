//! Snapshots against their diff_ids: each snapshot an image in the store
//! names is compared with its layer unpacked afresh, by the same code that
//! made it, into a scratch directory beside it — while the layer's tar is
//! hashed against the diff_id on the way. So whatever damaged a snapshot
//! (a file deleted, changed, added; a whiteout lost) shows as a difference,
//! and the check agrees with unpacking by construction. A snapshot that no
//! image names (only a container whose image was removed, or nobody: the
//! next garbage collection takes it) has no layer to compare with and is
//! left alone. Snapshots are checked side by side, one per core.

use std::collections::HashSet;

use crate::images::{Images, Layer};
use crate::{tree, Class, Fix, Problem};
use img_core::digest::{self, Digest};
use img_core::error::{Kind, Result};
use img_core::parallel::{self, Spare};
use img_store::{Snapshots, Store};

/// What checking the snapshots found.
#[derive(Debug, Default)]
pub(super) struct Checked {
    /// Snapshots compared with their layers.
    pub compared: usize,
    /// The (layer, diff_id) pairs whose tar was hashed on the way, which
    /// `--deep` need not decompress again.
    pub hashed: HashSet<(Digest, Digest)>,
}

/// Compare every snapshot an image names with its layer.
pub(super) fn check(
    store: &Store,
    images: &Images,
    problems: &mut Vec<Problem>,
) -> Result<Checked> {
    let dir = Snapshots::of(store).dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Checked::default());
    };
    // What this boot made is on the disk once synced: only snapshots of
    // earlier boots stay suspect (see `img_store::snapshots`), and those
    // found whole below are vouched for. A store this user cannot write
    // keeps its marks.
    let _ = Snapshots::of(store).sync();
    let mut todo: Vec<(Digest, &Layer)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(diff_id) = digest::from_hex(&name) else {
            continue; // scratch directories: see leftovers.rs
        };
        if let Some(layer) = images.layers.values().find(|l| l.diff_id == diff_id) {
            todo.push((diff_id, layer));
        }
    }
    let threads = parallel::cores(4);
    let outcomes = parallel::map(&todo, threads, &Spare::default(), |(diff_id, layer)| {
        Ok(compare(store, diff_id, layer))
    })?;
    let mut checked = Checked::default();
    for ((diff_id, layer), outcome) in todo.into_iter().zip(outcomes) {
        let key = (layer.descriptor.digest().clone(), layer.diff_id.clone());
        let users = layer
            .users
            .iter()
            .map(|u| match img_core::record::name_of(u) {
                Some(name) => name.familiar(),
                None => format!("<none> {}", u.digest()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        match outcome {
            Ok(differences) => {
                checked.compared += 1;
                checked.hashed.insert(key.clone());
                if differences.is_empty() {
                    let _ = Snapshots::of(store).vouch(&diff_id);
                }
                if !differences.is_empty() {
                    problems.push(Problem {
                        class: Class::Damage,
                        text: format!(
                            "snapshot {} (layer {} of {users}) differs from its layer: {}",
                            digest::short(&diff_id),
                            layer.descriptor.digest(),
                            differences.join("; ")
                        ),
                        fix: Fix::Snapshot(diff_id),
                    });
                }
            }
            // The layer itself does not match the diff_id its images'
            // configs give: those images are damaged (the snapshot was
            // checked against the diff_id when it was made).
            Err(e) if e.kind() == Kind::DigestMismatch => {
                checked.hashed.insert(key.clone());
                for user in &layer.users {
                    problems.push(Problem {
                        class: Class::Damage,
                        text: format!("image {users}: {e}"),
                        fix: Fix::Names(user.digest().clone()),
                    });
                }
            }
            Err(e) => problems.push(Problem {
                class: Class::Damage,
                text: format!(
                    "snapshot {} (layer {} of {users}) cannot be checked: {e}",
                    digest::short(&diff_id),
                    layer.descriptor.digest()
                ),
                fix: Fix::Manual,
            }),
        }
    }
    Ok(checked)
}

/// The differences between the snapshot `diff_id` and `layer` unpacked
/// afresh.
fn compare(store: &Store, diff_id: &Digest, layer: &Layer) -> Result<Vec<String>> {
    let scratch = Snapshots::of(store).scratch()?;
    img_layers::unpack::unpack_into(store, &layer.descriptor, diff_id, scratch.path())?;
    tree::compare(scratch.path(), &Snapshots::of(store).path(diff_id))
}

//! WORKDIR's directory, made as Docker's builders make it: with its
//! missing parents, mode 0755, owned by the stage's USER (root when none),
//! even when no later instruction uses it. Directories that exist are left
//! as they are; a file in the way is an error. Paths are resolved inside
//! the root filesystem, symbolic links followed as if it were `/`, so
//! nothing is made outside it.

use std::path::Path;

use super::clock::Clock;
use super::new_layers::NewLayers;
use super::owner;
use super::state::State;
use super::steps::StepDir;
use img_core::confine::{self, Root};
use img_core::error::{Error, Result};

/// WORKDIR's step on `state` (whose config already has the working
/// directory `dir`): the directory made in a layer of its own, in a step
/// directory under `work`, owned by the config's USER.
pub(crate) fn add_step(
    layers: &mut NewLayers<'_, '_>,
    work: &Path,
    clock: &Clock,
    state: &mut State,
    dir: &str,
    created_by: &str,
) -> Result<()> {
    let step = StepDir::new(work)?;
    let rootfs = step.mount(layers.store(), state)?;
    let user = state
        .runtime_value()
        .get("User")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let owner = match user.as_str() {
        "" => (0, 0),
        spec => owner::resolve(&rootfs, spec),
    };
    make(&rootfs, dir, owner)?;
    step.unmount();
    step.commit(layers, state, created_by, clock)
}

/// Make the directory `dir` (absolute, cleaned) in `rootfs`, what is made
/// owned by `owner` (uid, gid), through the root filesystem's [`Root`].
pub fn make(rootfs: &Path, dir: &str, owner: (u32, u32)) -> Result<()> {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let found = Root::open(rootfs)?.lookup(&parts, true, &|_, _| false)?;
    if found.blocked || found.leaf().is_some() {
        let mut blocker = found.found.clone();
        if found.blocked {
            blocker.extend(found.missing.first().cloned());
        }
        return Err(Error::invalid(format!(
            "WORKDIR {dir}: /{} exists and is not a directory",
            confine::relative(&blocker)
        )));
    }
    let mut at = found.dir;
    for name in &found.missing {
        at.mkdir(name, 0o755)?;
        at.chown(name, Some(owner.0), Some(owner.1))?;
        at = at.open_dir(name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn parents_are_made_for_the_user_and_links_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir(r.join("srv")).unwrap();
        fs::set_permissions(r.join("srv"), fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("/srv", r.join("link")).unwrap();
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        make(r, "/link/a/b", me).unwrap();
        let made = fs::metadata(r.join("srv/a/b")).unwrap();
        assert!(made.is_dir());
        assert_eq!(made.mode() & 0o7777, 0o755);
        assert_eq!((made.uid(), made.gid()), me);
        // What existed keeps its mode.
        assert_eq!(fs::metadata(r.join("srv")).unwrap().mode() & 0o7777, 0o700);
        fs::write(r.join("file"), b"").unwrap();
        let err = make(r, "/file/x", me).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert!(r.join("file").is_file(), "a file in the way is left alone");
    }
}

//! The overlay mount of a container's root filesystem, in a mount
//! namespace of the program's own.
//!
//! [`enter_private_namespace`] moves the calling thread into a new mount
//! namespace whose mounts do not propagate back to the host's: an overlay
//! mounted there is seen by the runtime and the container this thread
//! starts (children inherit the thread's namespace), never by the host, and
//! it disappears with the last process in the namespace — so no mount is
//! ever left behind by a killed img-run. Mount namespaces belong to a
//! thread: the runtime must be started from the thread that entered it.
//!
//! The overlay is mounted with the new mount API, one `lowerdir+` per
//! layer (Linux 6.8 and later), so the number of layers is not limited by
//! the length of one option string; older kernels get the classic `mount`
//! with a joined `lowerdir=`. `redirect_dir`, `metacopy` and `index` are
//! off: the upper directory must hold whole files and plain whiteouts,
//! because it becomes a layer as it is (see `layer::upper`).
//!
//! An image may hold the same layer more than once (`COPY f /f`, `RUN rm
//! /f`, `COPY f /f`; or the empty layers of steps that changed nothing),
//! but overlayfs refuses a directory given twice as a lower layer (ELOOP).
//! Only the topmost occurrence is mounted: every path the lower occurrence
//! holds, the upper one holds too, with the same content, metadata,
//! whiteouts and opaque markers, so it shadows the lower one entirely and
//! leaving that out changes nothing the container sees.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MountPropagationFlags, MoveMountFlags,
};

use img_core::error::{Error, Kind, Result};

/// Options every overlay of img's is mounted with.
const FIXED_OPTIONS: [(&str, &str); 3] = [
    ("redirect_dir", "off"),
    ("metacopy", "off"),
    ("index", "off"),
];

/// Move the calling thread into a new mount namespace whose mounts stay
/// private to it (see the module docs).
pub fn enter_private_namespace() -> Result<()> {
    // Deprecated for the flags that can break a process's invariants
    // (CLONE_FILES, CLONE_NEWUSER); a new mount namespace is not one.
    #[allow(deprecated)]
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNS).map_err(|e| {
        Error::new(
            Kind::FailedPrecondition,
            format!(
                "cannot make a mount namespace ({e}): img-run and img-build need root \
                 (or CAP_SYS_ADMIN) to mount a container's root filesystem"
            ),
        )
    })?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| Error::io("making the mount namespace private", e.into()))
}

/// Mount an overlay at `target`: `lowers` top first (at least one),
/// `upper` writable, `work` overlayfs's own (empty, on `upper`'s file
/// system).
pub fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    mount_with(lowers, upper, work, target, false)
}

/// [`mount`] for a writable layer that needs no sync to disk (thrown away
/// when the container ends, `img-run --rm`, or a build step's, see
/// `execute::Settings::volatile`): `volatile`, so that nothing of it is
/// ever synced. Unmounting an overlay otherwise syncs the whole file
/// system its upper directory is on, everything other programs wrote
/// included — on a busy machine the longest step of a short `--rm` run,
/// and seconds in the exit of a killed build's last step process.
pub fn mount_volatile(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    mount_with(lowers, upper, work, target, true)
}

fn mount_with(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> Result<()> {
    if lowers.is_empty() {
        return Err(Error::invalid(
            "an overlay needs at least one lower directory",
        ));
    }
    let lowers = topmost_occurrences(lowers);
    let lowers = lowers.as_slice();
    let failed = |e: rustix::io::Errno| {
        Error::io(
            format!("mounting the root filesystem at {}", target.display()),
            e.into(),
        )
    };
    match mount_new_api(lowers, upper, work, target, volatile) {
        Ok(()) => Ok(()),
        // No new mount API, or no `lowerdir+` (before Linux 6.8).
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            mount_classic(lowers, upper, work, target, volatile).map_err(failed)
        }
        Err(e) => Err(failed(e)),
    }
}

/// Mount a read-only overlay of `lowers` (top first, at least two) at
/// `target`.
pub fn mount_read_only(lowers: &[PathBuf], target: &Path) -> Result<()> {
    let failed = |e: rustix::io::Errno| {
        Error::io(
            format!("mounting a read-only overlay at {}", target.display()),
            e.into(),
        )
    };
    let mount = || -> rustix::io::Result<()> {
        let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
        for lower in lowers {
            fsconfig_set_string(&fs, "lowerdir+", lower.as_path())?;
        }
        for (key, value) in FIXED_OPTIONS {
            fsconfig_set_string(&fs, key, value)?;
        }
        fsconfig_create(&fs)?;
        let mounted = fsmount(
            &fs,
            FsMountFlags::FSMOUNT_CLOEXEC,
            MountAttrFlags::MOUNT_ATTR_RDONLY,
        )?;
        move_mount(
            &mounted,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    match mount() {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            let mut data = b"lowerdir=".to_vec();
            for (i, lower) in lowers.iter().enumerate() {
                if i > 0 {
                    data.push(b':');
                }
                data.extend_from_slice(&escape(lower));
            }
            let data = CString::new(data).map_err(|_| failed(rustix::io::Errno::INVAL))?;
            rustix::mount::mount(
                "overlay",
                target,
                "overlay",
                MountFlags::RDONLY,
                data.as_c_str(),
            )
            .map_err(failed)
        }
        Err(e) => Err(failed(e)),
    }
}

fn mount_new_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> rustix::io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for lower in lowers {
        fsconfig_set_string(&fs, "lowerdir+", lower.as_path())?;
    }
    fsconfig_set_string(&fs, "upperdir", upper)?;
    fsconfig_set_string(&fs, "workdir", work)?;
    for (key, value) in FIXED_OPTIONS {
        fsconfig_set_string(&fs, key, value)?;
    }
    if volatile {
        fsconfig_set_flag(&fs, "volatile")?;
    }
    fsconfig_create(&fs)?;
    let mounted = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
    move_mount(
        &mounted,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

fn mount_classic(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> rustix::io::Result<()> {
    let mut data = b"lowerdir=".to_vec();
    for (i, lower) in lowers.iter().enumerate() {
        if i > 0 {
            data.push(b':');
        }
        data.extend_from_slice(&escape(lower));
    }
    data.extend_from_slice(b",upperdir=");
    data.extend_from_slice(&escape(upper));
    data.extend_from_slice(b",workdir=");
    data.extend_from_slice(&escape(work));
    for (key, value) in FIXED_OPTIONS {
        data.extend_from_slice(format!(",{key}={value}").as_bytes());
    }
    if volatile {
        data.extend_from_slice(b",volatile");
    }
    let data = CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
}

/// `lowers` (top first) with each directory kept only where it first
/// appears, i.e. at its topmost occurrence (see the module docs).
fn topmost_occurrences(lowers: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    lowers
        .iter()
        .filter(|lower| seen.insert(lower.as_path()))
        .cloned()
        .collect()
}

/// A path in an overlay option string: `,`, `:` and `\` escaped.
fn escape(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b',' | b':' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_layer_is_mounted_at_its_topmost_place_only() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            topmost_occurrences(&[p("/c"), p("/a"), p("/b"), p("/a"), p("/c")]),
            [p("/c"), p("/a"), p("/b")]
        );
    }

    #[test]
    fn option_paths_are_escaped() {
        assert_eq!(escape(Path::new("/a,b:c\\d")), b"/a\\,b\\:c\\\\d");
    }

    /// In a thread of its own (the namespace is the thread's): two lower
    /// layers and an upper merge, writes land in the upper directory, and
    /// the host never sees the mount.
    #[test]
    fn layers_merge_and_writes_go_up() {
        if !img_core::testing::need_root("mounting overlayfs in a namespace") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        for sub in ["low1", "low2", "upper", "work", "root"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("low1/a"), b"bottom").unwrap();
        std::fs::write(d.join("low1/b"), b"bottom").unwrap();
        std::fs::write(d.join("low2/a"), b"top").unwrap();
        let inner = d.clone();
        std::thread::spawn(move || {
            let d = inner;
            enter_private_namespace().unwrap();
            mount(
                &[d.join("low2"), d.join("low1")],
                &d.join("upper"),
                &d.join("work"),
                &d.join("root"),
            )
            .unwrap();
            assert_eq!(std::fs::read(d.join("root/a")).unwrap(), b"top");
            assert_eq!(std::fs::read(d.join("root/b")).unwrap(), b"bottom");
            std::fs::write(d.join("root/c"), b"new").unwrap();
            std::fs::remove_file(d.join("root/b")).unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(std::fs::read(d.join("upper/c")).unwrap(), b"new");
        assert!(
            !d.join("root/a").exists(),
            "the mount stayed in its namespace"
        );
        assert!(d.join("low1/b").exists(), "lower layers are never written");
    }
}

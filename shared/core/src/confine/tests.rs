//! Tests of confined resolution: links that point out of the root lead
//! back into it, and no operation follows a link in a name's place.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

/// A root holding `etc/passwd`, and beside it (outside) a victim.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "inside").unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "host").unwrap();
    (tmp, root, outside)
}

#[test]
fn plain_names_only() {
    for bad in ["", ".", "..", "a/b", "/", "a\0b"] {
        assert!(plain(OsStr::new(bad)).is_err(), "{bad:?}");
    }
    for good in ["a", "...", ".wh.x", "a b"] {
        assert!(plain(OsStr::new(good)).is_ok(), "{good:?}");
    }
}

#[test]
fn links_out_of_the_root_lead_back_into_it() {
    let (_tmp, root, _outside) = setup();
    symlink("/", root.join("abs")).unwrap();
    symlink("../../../../", root.join("climb")).unwrap();
    symlink("../outside", root.join("beside")).unwrap();
    symlink("abs/climb/etc", root.join("chain")).unwrap();
    let r = Root::open(&root).unwrap();
    for rel in ["abs/etc", "climb/etc", "chain", "abs/climb/abs/etc/../etc"] {
        let found = r.dir(rel.as_bytes(), Missing::Absent).unwrap().unwrap();
        assert_eq!(found.real_path().unwrap(), root.join("etc"), "{rel}");
        // The walk (no openat2) finds the same directory.
        let walked = r.walk(rel.as_bytes(), Missing::Absent).unwrap().unwrap();
        assert_eq!(walked.real_path().unwrap(), root.join("etc"), "{rel}");
    }
    // `beside` is `root/outside` inside the root: missing, then made there.
    assert!(r.dir(b"beside", Missing::Absent).unwrap().is_none());
    let made = r.dir(b"beside/new", Missing::Create).unwrap().unwrap();
    assert_eq!(made.real_path().unwrap(), root.join("outside/new"));
    assert!(!root.parent().unwrap().join("outside/new").exists());
    assert_eq!(
        r.real_path(b"climb/etc/passwd").unwrap(),
        root.join("etc/passwd")
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut r.open_file(b"abs/etc/passwd").unwrap(), &mut text).unwrap();
    assert_eq!(text, "inside");
}

#[test]
fn missing_directories_are_made_and_files_in_the_way_replaced_only_when_asked() {
    let (_tmp, root, _outside) = setup();
    fs::write(root.join("file"), "x").unwrap();
    let r = Root::open(&root).unwrap();
    assert!(r.dir(b"file/sub", Missing::Create).unwrap().is_none());
    assert!(root.join("file").is_file());
    let made = r.dir(b"file/sub", Missing::Replace).unwrap().unwrap();
    assert_eq!(made.real_path().unwrap(), root.join("file/sub"));
    let mode = fs::metadata(root.join("file"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn no_operation_follows_a_link_in_a_names_place() {
    let (_tmp, root, outside) = setup();
    symlink(outside.join("victim"), root.join("file")).unwrap();
    symlink(&outside, root.join("dir")).unwrap();
    let r = Root::open(&root).unwrap();
    let top = r.top();
    assert!(top.chmod(OsStr::new("file"), 0o777).is_err());
    assert!(top.create_file(OsStr::new("file")).is_err());
    assert!(top.open_file(OsStr::new("file")).is_err());
    assert!(top.open_dir(OsStr::new("dir")).is_err());
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
    };
    top.set_times(OsStr::new("file"), &times).unwrap();
    assert!(top.remove(OsStr::new("dir")).unwrap());
    assert!(top.remove(OsStr::new("file")).unwrap());
    assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "host");
    let meta = fs::metadata(outside.join("victim")).unwrap();
    assert_ne!(meta.permissions().mode() & 0o777, 0o777);
    assert_ne!(meta.modified().unwrap(), std::time::UNIX_EPOCH);
}

#[test]
fn a_tree_is_removed_without_following_its_links() {
    let (_tmp, root, outside) = setup();
    fs::create_dir_all(root.join("t/a/b")).unwrap();
    fs::write(root.join("t/a/b/f"), "x").unwrap();
    symlink(&outside, root.join("t/a/out")).unwrap();
    fs::set_permissions(root.join("t/a/b"), fs::Permissions::from_mode(0o500)).unwrap();
    let r = Root::open(&root).unwrap();
    assert!(r.top().remove(OsStr::new("t")).unwrap());
    assert!(!root.join("t").exists());
    assert!(!r.top().remove(OsStr::new("t")).unwrap());
    assert!(outside.join("victim").exists());
}

#[test]
fn lookup_reports_missing_tails_files_in_the_way_and_loops() {
    let (_tmp, root, _outside) = setup();
    symlink("/etc", root.join("abs")).unwrap();
    symlink("b", root.join("a")).unwrap();
    symlink("a", root.join("b")).unwrap();
    let r = Root::open(&root).unwrap();
    let none = |_: &str, _: bool| false;
    let found = r.lookup(&["abs", "passwd"], true, &none).unwrap();
    assert!(found.exists());
    assert_eq!(found.found, vec![OsString::from("etc"), "passwd".into()]);
    assert_eq!(found.leaf(), Some(OsStr::new("passwd")));
    assert_eq!(found.dir.real_path().unwrap(), root.join("etc"));
    let tail = r.lookup(&["etc", "x", "y"], true, &none).unwrap();
    assert_eq!(tail.missing, vec![OsString::from("x"), "y".into()]);
    assert!(!tail.blocked);
    let blocked = r.lookup(&["etc", "passwd", "y"], true, &none).unwrap();
    assert!(blocked.blocked);
    let link = r.lookup(&["abs"], false, &none).unwrap();
    assert!(link.meta.is_some_and(|m| is_symlink(&m)));
    let up = r.lookup(&["etc", ".."], true, &none).unwrap();
    assert!(up.is_dir() && up.found.is_empty());
    let err = r.lookup(&["a"], true, &none).unwrap_err();
    assert!(err.to_string().contains("too many symbolic links"), "{err}");
}

//! Tests of layer extraction, and of flattening against it: applying layers
//! one by one and applying their flattened tar must give the same tree.

use std::fs;

use super::*;
use crate::flatten::{self, LayerSource};
use crate::test_layers::{layer, stack, tree, untimed_dirs, Mem, E};

fn options() -> Options {
    Options {
        preserve_owners: false,
        overlay: false,
    }
}

#[test]
fn layers_applied_in_order_equal_their_flattened_tar() {
    let [l1, l2, l3]: [Vec<u8>; 3] = stack().try_into().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    fs::create_dir(&one).unwrap();
    fs::create_dir(&two).unwrap();
    for l in [&l1, &l2, &l3] {
        apply(&l[..], &one, &options()).unwrap();
    }
    let sources = [Mem(l1), Mem(l2), Mem(l3)];
    let refs: Vec<&dyn LayerSource> = sources.iter().map(|s| s as &dyn LayerSource).collect();
    let flat = flatten::flatten(&refs, Vec::new()).unwrap();
    apply(&flat[..], &two, &options()).unwrap();
    let want = untimed_dirs(tree(&one));
    assert_eq!(want, untimed_dirs(tree(&two)));
    let has = |path: &str, start: &str| {
        assert!(want[path].starts_with(start), "{path}: {}", want[path]);
    };
    has("a", "dir 700");
    has("a/b/f", "file 600 \"two\" links 1 ");
    has("a/hl", "file 644 \"one\" links 2 ");
    has("d/n", "file 644 \"new\" links 1 ");
    has("f", "file 644 \"file now\" links 1 ");
    has("twice", "file 640 \"second\" links 1 ");
    has("ro", "dir 500");
    assert_eq!(want["lnk"], "-> /nowhere");
    for gone in ["c/k", "d/g", "d/sub", "e/x", "f/inside"] {
        assert!(!want.contains_key(gone), "{gone}: {want:?}");
    }
    assert!(want.contains_key("e/y"));
}

/// Each layer in overlay form in a directory of its own, stacked as an
/// overlay's lower directories, shows what applying them in order gives:
/// a snapshot's whiteouts and opaque directories are overlayfs's own.
#[test]
fn layers_in_overlay_form_stack_to_the_applied_tree() {
    if !img_core::testing::need_root("whiteout devices, trusted.* attributes, mounts") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layers = stack();
    let applied = tmp.path().join("applied");
    fs::create_dir(&applied).unwrap();
    let overlay = Options {
        preserve_owners: true,
        overlay: true,
    };
    let mut lowers = Vec::new();
    for (n, l) in layers.iter().enumerate() {
        apply(&l[..], &applied, &options()).unwrap();
        let dir = tmp.path().join(format!("layer{n}"));
        fs::create_dir(&dir).unwrap();
        apply(&l[..], &dir, &overlay).unwrap();
        lowers.insert(0, dir.display().to_string());
    }
    // A private mount namespace: the mount ends with the shell.
    let seen = tmp.path().join("seen");
    let script = format!(
        "mkdir {t}/merged && mount -t overlay overlay -o lowerdir={lowers} {t}/merged \
         && cp -a {t}/merged {seen}",
        t = tmp.path().display(),
        lowers = lowers.join(":"),
        seen = seen.display()
    );
    let status = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success(), "mounting the overlay: {status}");
    assert_eq!(untimed_dirs(tree(&seen)), untimed_dirs(tree(&applied)));
}

#[test]
fn never_writes_outside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep"), "mine").unwrap();
    // From `root/esc`, `../outside` is the real `outside` beside the root:
    // where the link would lead if it were followed on the host.
    let escape = format!("../{}", outside.file_name().unwrap().to_str().unwrap());
    let hostile = layer(&[
        E::Sym("esc", &escape),
        E::Sym("abs", "/"),
        E::File("esc/pwned", "x", 0o644),
        E::File("abs/tmp/pwned", "x", 0o644),
        E::File("esc/.wh.keep", "", 0o644),
    ]);
    let report = apply(&hostile[..], &root, &options()).unwrap();
    assert_eq!(report.written, 4);
    assert!(!outside.join("pwned").exists());
    assert_eq!(fs::read_to_string(outside.join("keep")).unwrap(), "mine");
    assert!(root.join("outside/pwned").is_file());
    assert!(root.join("tmp/pwned").is_file());
    // a hard link to a host file through a symlink finds nothing inside
    let link = layer(&[E::Hard("h", "abs/etc/hostname")]);
    let err = apply(&link[..], &root, &options()).unwrap_err();
    assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{err}");
    // `..` leaving the root is refused outright
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..9].copy_from_slice(b"../evil\0\0");
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let err = apply(&b.into_inner().unwrap()[..], &root, &options()).unwrap_err();
    assert_eq!(err.kind(), img_core::Kind::InvalidInput);
    assert!(!tmp.path().join("evil").exists());
}

#[test]
fn whiteouts_of_the_root_or_its_parent_are_refused_and_delete_nothing() {
    for (hostile, overlay) in [
        (&[E::File(".wh...", "", 0o644)][..], false),
        (
            &[E::Dir("dir", 0o755), E::File("dir/.wh...", "", 0o644)][..],
            false,
        ),
        (&[E::File(".wh..", "", 0o644)][..], false),
        (
            &[E::Sym("r", "/"), E::File("r/.wh...", "", 0o644)][..],
            false,
        ),
        (&[E::File(".wh...", "", 0o644)][..], true),
        (&[E::Sym("r", "/"), E::File("r/.wh..", "", 0o644)][..], true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("lower"), "lower layer").unwrap();
        fs::write(tmp.path().join("beside"), "victim").unwrap();
        let options = Options {
            preserve_owners: false,
            overlay,
        };
        let err = apply(&layer(hostile)[..], &root, &options).unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{err}");
        assert!(err.to_string().contains("whiteout"), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("beside")).unwrap(),
            "victim"
        );
        assert_eq!(
            fs::read_to_string(root.join("lower")).unwrap(),
            "lower layer"
        );
    }
}

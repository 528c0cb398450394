use img_tests::archive::{assert_exact_tree, assert_same_tree, tar_paths};
use img_tests::{need, peers, Env};

/// Export `name` and unpack it with GNU tar into `dir`; unpack the same
/// image with umoci into `dir-umoci`; the trees must be equal.
fn compare_with_umoci(env: &Env, layout: &str, name: &str, dir: &str) {
    let rootless = if img_tests::is_root() {
        ""
    } else {
        "--rootless"
    };
    env.sh(&format!(
        "umoci unpack {rootless} --image {layout}:{name} {dir}-umoci >/dev/null \
         && mkdir {dir} && img-export {name} | tar -C {dir} -xpf - --numeric-owner"
    ))
    .ok();
    assert_same_tree(&env.path(&format!("{dir}-umoci/rootfs")), &env.path(dir));
}

#[test]
fn fixture_images_match_umoci_unpack() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    compare_with_umoci(&env, "$FIXTURES", "derived", "d");
}

/// Layers made by hand to hit every rule: whiteouts, opaque directories, a
/// file replacing a directory, a directory over a directory (higher mode
/// wins), a hard link whose target a higher layer replaced, owners, modes,
/// a FIFO, symlinks.
#[test]
fn whiteouts_opaque_dirs_and_hard_links_match_umoci() {
    if !need(&["skopeo", "umoci"]) {
        return;
    }
    let env = Env::new();
    env.sh(
        r#"set -e
umoci init --layout L >/dev/null && umoci new --image L:t >/dev/null
mkdir -p l1/a/b l1/c l1/d/sub l1/e l1/f
echo one > l1/a/b/f && ln l1/a/b/f l1/a/hl && ln l1/a/b/f l1/a/hl2
echo keep > l1/c/k && echo gone > l1/d/g && echo deep > l1/d/sub/x && echo x > l1/e/x
ln -s ../a/b/f l1/c/sym && chmod 0750 l1/a && chown 1000:1001 l1/c/k && mkfifo l1/fifo
echo dir-file > l1/f/inside && chmod 4755 l1/c/k
tar -C l1 --numeric-owner -cf l1.tar .
mkdir -p l2/a/b l2/d l2/c
echo two > l2/a/b/f && touch l2/d/.wh..wh..opq && echo new > l2/d/n
touch l2/c/.wh.k && touch l2/.wh.e && chmod 0700 l2/a && echo file-now > l2/f
tar -C l2 --numeric-owner -cf l2.tar .
mkdir -p l3/e && echo back > l3/e/y && ln -s /nowhere l3/lnk
tar -C l3 --numeric-owner -cf l3.tar .
umoci raw add-layer --image L:t l1.tar && umoci raw add-layer --image L:t l2.tar && umoci raw add-layer --image L:t l3.tar
mkdir -p $STORE && skopeo copy -q oci:L:t oci:$STORE:t
img-export t > check.tar"#,
    )
    .ok();
    compare_with_umoci(&env, "L", "t", "t");
    let paths = tar_paths(&env.path("check.tar"));
    assert!(paths.iter().all(|p| !p.contains(".wh.")), "{paths:?}");
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), paths.len(), "a path twice: {paths:?}");
    // directories come before their contents
    let a = paths.iter().position(|p| p == "a/").unwrap();
    let f = paths.iter().position(|p| p == "a/b/f").unwrap();
    assert!(a < f, "{paths:?}");
    // the hard links keep the old content
    assert_eq!(
        std::fs::read_to_string(env.path("t/a/hl")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("t/a/b/f")).unwrap(),
        "two\n"
    );
}

#[test]
fn output_file_records_and_errors() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh(
        "img-export -o root.tar busybox && tar -tf root.tar > list && grep -qx bin/busybox list",
    )
    .ok();
    env.sh("img-tag busybox b:2 | img-export > piped.tar && cmp root.tar piped.tar")
        .ok();
    let run = env.sh("img-export nosuch:1 > x.tar").code(1);
    assert!(
        run.stderr.contains("No such image: nosuch:1"),
        "{}",
        run.stderr
    );
    let run = env.sh("img-export -o y.tar nosuch:1").code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!env.path("y.tar").exists());
    env.sh("img-export --platform linux/s390x busybox > z.tar")
        .code(1);
    if need(&["script"]) {
        let run = env.sh("script -qec 'img-export busybox' /dev/null").code(1);
        assert!(
            run.stdout
                .contains("refusing to write a root filesystem tar to a terminal"),
            "{}",
            run.stdout
        );
    }
}

/// `-o` renames its finished file over the name: over a device node that
/// would put a regular file in the device's place (as root, over
/// /dev/null). A device, a named pipe or a directory there is refused, as
/// docker save -o refuses it, before any work, and stays what it was.
#[test]
fn output_file_over_a_device_or_pipe_is_refused_and_left_alone() {
    if !need(&["skopeo", "umoci", "busybox"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let device = if img_tests::is_root() {
        "mknod null c 1 3 && "
    } else {
        ""
    };
    env.sh(&format!("{device}mkfifo fifo && mkdir dir")).ok();
    let mut targets = vec![("fifo", "a named pipe"), ("dir", "a directory")];
    if img_tests::is_root() {
        targets.push(("null", "a character device"));
    }
    let programs = [
        "img-save -o {} busybox",
        "img-export -o {} busybox",
        "img-layer create -o {} dir",
    ];
    for (target, kind) in targets {
        for program in programs {
            let command = program.replace("{}", target);
            let run = env.sh(&command).code(1);
            assert_eq!(
                run.stderr.trim(),
                format!(
                    "{}: error: refusing to write to {target}: it is {kind}, and -o takes a regular \
                     file or a new name; to write into it, send stdout there instead (> {target})",
                    command.split(' ').next().unwrap_or_default()
                ),
                "{command}"
            );
        }
    }
    env.sh("test -p fifo && test -d dir && ! ls -A | grep -q img-partial")
        .ok();
    if img_tests::is_root() {
        env.sh("test -c null && [ \"$(stat -c %t:%T null)\" = 1:3 ]")
            .ok();
    }
}

/// The layers of `whiteouts_opaque_dirs_and_hard_links_match_umoci`, with
/// times, extended attributes, a device node (as root) and a hard link
/// to a file that stays, as image `t` in layout `L` and the store.
const EXACT_LAYERS: &str = r#"set -e
umoci init --layout L >/dev/null && umoci new --image L:t >/dev/null
mkdir -p l1/a/b l1/c l1/d/sub l1/e l1/f l1/x
echo one > l1/a/b/f && ln l1/a/b/f l1/a/hl && ln l1/a/b/f l1/a/hl2
echo stays > l1/x/s && ln l1/x/s l1/x/s-link
echo keep > l1/c/k && echo gone > l1/d/g && echo deep > l1/d/sub/x && echo x > l1/e/x
ln -s ../a/b/f l1/c/sym && chmod 0750 l1/a && chown 1000:1001 l1/c/k && mkfifo l1/fifo
echo dir-file > l1/f/inside && chmod 4755 l1/c/k
python3 -c 'import os; os.setxattr("l1/x/s", "user.img", b"attribute"); os.setxattr("l1/x", "user.dir", b"yes")'
if [ "$(id -u)" = 0 ]; then mknod l1/null c 1 3; fi
find l1 -exec touch -h -d @1600000000 {} +
tar -C l1 --numeric-owner --xattrs --xattrs-include='user.*' -cf l1.tar .
mkdir -p l2/a/b l2/d l2/c
echo two > l2/a/b/f && touch l2/d/.wh..wh..opq && echo new > l2/d/n
touch l2/c/.wh.k && touch l2/.wh.e && chmod 0700 l2/a && echo file-now > l2/f
find l2 -exec touch -h -d @1650000000 {} +
tar -C l2 --numeric-owner -cf l2.tar .
mkdir -p l3/e && echo back > l3/e/y && ln -s /nowhere l3/lnk
find l3 -exec touch -h -d @1700000000 {} +
tar -C l3 --numeric-owner -cf l3.tar .
umoci raw add-layer --image L:t l1.tar && umoci raw add-layer --image L:t l2.tar && umoci raw add-layer --image L:t l3.tar
mkdir -p $STORE && skopeo copy -q oci:L:t oci:$STORE:t"#;

/// `img-export --output-dir` writes exactly the tree `umoci unpack` writes
/// (times, extended attributes, hard links and device nodes included), and
/// the tree `img-export | tar -x` writes (times aside).
#[test]
fn output_dir_matches_umoci_unpack_exactly() {
    if !need(&["skopeo", "umoci", "python3"]) {
        return;
    }
    let env = Env::new();
    env.sh(EXACT_LAYERS).ok();
    let rootless = if img_tests::is_root() {
        ""
    } else {
        "--rootless"
    };
    env.sh(&format!(
        "umoci unpack {rootless} --image L:t t-umoci >/dev/null && img-export --output-dir t t \
         && mkdir piped && img-export t | tar -C piped -xpf - --numeric-owner --xattrs --xattrs-include='*'"
    ))
    .ok();
    assert_exact_tree(&env.path("t-umoci/rootfs"), &env.path("t"));
    // GNU tar sets a directory's time when it leaves it, and the exported
    // tar goes through some directories twice (a layer at a time): times
    // aside, the trees are the same.
    assert_same_tree(&env.path("piped"), &env.path("t"));
    let tree = img_tests::archive::exact_tree(&env.path("t"));
    // The rules were at work: a replaced target's links keep the old
    // content, links to a file that stays are links of it.
    assert!(
        tree["a/hl"].contains("hard link of a/hl"),
        "{}",
        tree["a/hl"]
    );
    assert!(
        tree["x/s-link"].contains("hard link of x/s"),
        "{}",
        tree["x/s-link"]
    );
    assert!(
        tree["x/s"].contains("user.img=attribute"),
        "{}",
        tree["x/s"]
    );
    assert!(!tree.contains_key("c/k") && !tree.contains_key("e/x") && !tree.contains_key("d/g"));
    if img_tests::is_root() {
        assert!(tree["null"].contains("device 103"), "{}", tree["null"]);
    }
}

#[test]
fn output_dir_matches_umoci_on_the_fixture_images() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let rootless = if img_tests::is_root() {
        ""
    } else {
        "--rootless"
    };
    env.sh(&format!(
        "umoci unpack {rootless} --image $FIXTURES:derived d-umoci >/dev/null && img-export --output-dir d derived"
    ))
    .ok();
    assert_exact_tree(&env.path("d-umoci/rootfs"), &env.path("d"));
}

/// A directory that is not empty is refused and left alone; an image that
/// fails to unpack (a blob corrupted in the store) leaves no directory.
#[test]
fn output_dir_refuses_and_cleans_up() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let run = env
        .sh("mkdir full && echo mine > full/own && img-export --output-dir full busybox")
        .code(2);
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(std::fs::read_dir(env.path("full")).unwrap().count(), 1);
    env.sh("img-export --output-dir missing nosuch:1").code(1);
    assert!(!env.path("missing").exists());
    let run = env.sh("img-export -o x.tar --output-dir y busybox").code(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    env.sh("mkdir empty && img-export --output-dir empty busybox && test -x empty/bin/busybox")
        .ok();
    // The layer blob corrupted in place: its digest no longer matches.
    env.sh(r#"set -e
m=$(jq -r '.manifests[0].digest[7:]' $STORE/index.json)
l=$(jq -r '.layers[-1].digest[7:]' $STORE/blobs/sha256/$m)
chmod u+w $STORE/blobs/sha256/$l
printf 'XXXXXXXX' | dd of=$STORE/blobs/sha256/$l bs=1 seek=2000 conv=notrunc status=none"#)
        .ok();
    let run = env.sh("img-export --output-dir broken busybox");
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(!env.path("broken").exists(), "{}", run.stderr);
}

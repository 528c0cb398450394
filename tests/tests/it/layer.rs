//! img-layer: create, diff, apply, ls, extract — against GNU tar, zstd,
//! umoci and skopeo.

use img_tests::{need, Env};

/// Shell helpers: `mktree DIR` makes a tree with every kind of entry a layer
/// carries (modes with set-ID and sticky bits, owners when root, hard and
/// symbolic links, a FIFO, a device node when root, long and odd names,
/// whole-second times); `list DIR` prints what "the same tree" means: every
/// path's type, mode, owner, size, mtime, link target and link count, then
/// every file's content digest.
const HELPERS: &str = r#"
mktree() {
  local d=$1 long=$(printf 'long%.0s' {1..30})
  mkdir -p "$d"/etc/conf.d "$d"/empty "$d"/usr/bin "$d/deep/$long/x" "$d"/gone/sub
  echo hello > "$d"/etc/motd; chmod 0600 "$d"/etc/motd
  printf 'a=1\n' > "$d"/etc/conf.d/a
  ln "$d"/etc/motd "$d"/etc/motd.hard
  ln -s motd "$d"/etc/motd.link
  ln -s /etc/motd "$d"/abs.link
  ln -s ../../nowhere "$d"/usr/dangling
  printf '#!/bin/sh\n' > "$d"/usr/bin/tool; chmod 4755 "$d"/usr/bin/tool
  chmod 1777 "$d"/empty
  echo sp > "$d/with space"
  echo deep > "$d/deep/$long/x/file"
  echo g > "$d"/gone/sub/file
  mkfifo "$d"/fifo
  seq 1 100000 > "$d"/big
  if [ "$(id -u)" = 0 ]; then
    chown 1000:1001 "$d"/etc/conf.d/a; chown -h 7:8 "$d"/etc/motd.link; mknod "$d"/null c 1 3
  fi
  find "$d" -exec touch -h -d @1700000000 {} +
  touch -h -d @1600000000 "$d"/etc/motd.link "$d"/usr/bin/tool
}
list() {
  (cd "$1" && find . -mindepth 1 \( -type d -printf '%P d %m %U:%G %T@\n' \) -o \( ! -type d -printf '%P %y %m %U:%G %s %T@ %l %n\n' \) | LC_ALL=C sort
   find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2)
}
"#;

fn sh(env: &Env, script: &str) -> img_tests::Run {
    env.sh(&format!("{HELPERS}\n{script}"))
}

#[test]
fn create_then_apply_gives_the_same_tree() {
    let env = Env::new();
    let run = sh(
        &env,
        "set -e; mktree t
         img-layer create t > l.tar
         img-layer create --compression gzip t > l.tar.gz
         img-layer create --compression zstd t -o l.tar.zst
         mkdir x y z
         img-layer apply l.tar x
         img-layer apply - y < l.tar.gz
         cat l.tar.zst | img-layer apply z
         list t > want
         for d in x y z; do list $d | diff want - >&2; done
         # the other tools read what img-layer writes
         tar -tf l.tar > names; tar -tzf l.tar.gz | diff names -; zstd -dc l.tar.zst | tar -t | diff names -
         zstd -dc l.tar.zst | cmp - l.tar; gzip -dc l.tar.gz | cmp - l.tar
         cat names",
    )
    .ok();
    let names: Vec<&str> = run.stdout.lines().collect();
    // Sorted, depth first, no entry for the root itself.
    assert_eq!(names[0], "abs.link");
    assert!(names.contains(&"etc/motd.hard"), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with("./") && *n != "."));
    let gnu = sh(&env, "tar -tvf l.tar | grep -E 'motd.hard|motd.link|fifo'")
        .ok()
        .stdout;
    assert!(gnu.contains("etc/motd.hard link to etc/motd"), "{gnu}");
    assert!(gnu.contains("etc/motd.link -> motd"), "{gnu}");
    assert!(gnu.starts_with('p') || gnu.contains("\np"), "{gnu}");
}

#[test]
fn create_is_reproducible_and_clamps_times() {
    let env = Env::new();
    sh(
        &env,
        "set -e; mktree t; cp -a t u
         for c in none gzip zstd; do
           img-layer create --compression $c t > a.$c; img-layer create --compression $c u > b.$c
           cmp a.$c b.$c
         done
         img-layer create --mtime 1650000000 t > m.tar
         SOURCE_DATE_EPOCH=1650000000 img-layer create t | cmp - m.tar
         ! cmp -s m.tar a.none
         mkdir x; img-layer apply m.tar x
         find x -mindepth 1 -newermt @1650000000 > newer; test ! -s newer
         test \"$(find x -mindepth 1 | wc -l)\" -gt 10
         test \"$(stat -c %Y x/usr/bin/tool)\" = 1600000000
         test \"$(stat -c %Y x/etc/motd)\" = 1650000000",
    )
    .ok();
}

#[test]
fn create_skips_sockets_with_a_warning() {
    if !need(&["python3"]) {
        return;
    }
    let env = Env::new();
    let run = sh(
        &env,
        "set -e; mkdir t; echo a > t/a
         python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"t/sock\")'
         img-layer create t | tar -t",
    )
    .ok();
    assert_eq!(run.stdout, "a\n");
    assert!(
        run.stderr.contains("1 socket(s) left out"),
        "{}",
        run.stderr
    );
}

/// LOWER (from mktree) and UPPER, a copy with every kind of change.
const CHANGES: &str = "mktree lower; cp -a lower upper
  echo new > upper/added; mkdir -p upper/newdir/sub; echo n > upper/newdir/sub/f
  echo jello > upper/etc/motd; touch -d @1700000000 upper/etc/motd  # same size, same time, new bytes
  chmod 0644 upper/etc/conf.d/a
  rm upper/with\\ space; rm -r upper/gone
  rm -r upper/etc/conf.d; echo now-a-file > upper/etc/conf.d
  rm upper/big; mkdir upper/big; echo inside > upper/big/f
  rm upper/etc/motd.link; ln -s motd.hard upper/etc/motd.link
  touch -d @1710000000 upper/usr/bin/tool
  ln upper/added upper/added.hard
  rm -r upper/usr/*; echo fresh > upper/usr/fresh  # everything usr had is gone
  find upper -newer lower/big -exec touch -h -d @1720000000 {} +";

#[test]
fn diff_applied_onto_lower_gives_upper() {
    let env = Env::new();
    let run = sh(
        &env,
        &format!(
            "set -e; {CHANGES}
             img-layer diff lower upper > d.tar
             cp -a lower x; img-layer apply d.tar x
             list upper > want; list x | diff want - >&2
             img-layer diff --compression zstd lower upper | img-layer ls --files"
        ),
    )
    .ok();
    let out = run.stdout;
    for removed in ["with space (removed)", "gone (removed)"] {
        assert!(out.contains(removed), "{out}");
    }
    // Unchanged paths are not in the layer; removed children of a removed
    // directory need no whiteout of their own.
    assert!(!out.contains("deep/"), "{out}");
    assert!(!out.contains("gone/sub"), "{out}");
    assert!(out.contains("usr/ (opaque"), "{out}");
    assert!(!out.contains("usr/bin"), "{out}");
    assert!(!out.contains("etc/ (opaque"), "{out}");
    assert!(out.contains("etc/motd\n"), "content change missed: {out}");
    assert!(out.contains("added.hard link to added"), "{out}");
    // A diff of equal trees is an empty layer, and applying it changes nothing.
    let same = sh(
        &env,
        "img-layer diff lower lower | tar -t | wc -l; img-layer diff lower lower | wc -c",
    )
    .ok();
    assert_eq!(same.stdout, "0\n1024\n");
}

#[test]
fn umoci_unpacks_layers_img_layer_made() {
    if !need(&["umoci", "skopeo"]) {
        return;
    }
    let env = Env::new();
    sh(
        &env,
        "set -e; cp -r $FIXTURES L
         umoci unpack --image L:base b >/dev/null
         mkdir upper; echo top > upper/top; mkdir upper/etc; echo root > upper/etc/passwd
         touch -d @1700000000 upper upper/*
         img-layer create upper > c.tar
         umoci raw add-layer --image L:base --tag created c.tar
         cp -a b/rootfs up2; rm up2/etc/passwd up2/bin/busybox up2/bin/sh; echo x > up2/bin/extra; ln -s extra up2/bin/ls
         find up2 -newer b/rootfs/bin/busybox -exec touch -h -d @1720000000 {} +
         img-layer diff b/rootfs up2 > d.tar
         tar -tf d.tar | grep -x 'bin/.wh..wh..opq'  # bin lost all it had
         umoci raw add-layer --image L:base --tag diffed d.tar
         umoci unpack --image L:diffed n >/dev/null
         list up2 > want; list n/rootfs | diff want - >&2
         umoci unpack --image L:created m >/dev/null
         test \"$(cat m/rootfs/top)\" = top; test \"$(cat m/rootfs/etc/passwd)\" = root
         test -x m/rootfs/bin/busybox",
    )
    .ok();
}

#[test]
fn apply_gives_what_umoci_unpack_gives() {
    if !need(&["umoci", "skopeo"]) {
        return;
    }
    let env = Env::new();
    let run = sh(
        &env,
        "set -e; cp -r $FIXTURES L
         umoci unpack --image L:derived b >/dev/null
         rm b/rootfs/etc/passwd; rm -r b/rootfs/tmp; mkdir -p b/rootfs/srv/data; echo d > b/rootfs/srv/data/f
         chmod 0700 b/rootfs/srv; ln -s ../srv b/rootfs/bin/srv; echo changed > b/rootfs/hello.txt
         umoci repack --image L:changed b >/dev/null
         umoci unpack --image L:changed u >/dev/null
         mkdir -p $STORE; skopeo copy -q oci:L:changed oci:$STORE:changed
         n=$(img-layer ls -q changed | wc -l); test $n = 3
         mkdir x; for i in $(seq 0 $((n-1))); do img-layer extract changed $i | img-layer apply x; done
         list u/rootfs > want; list x | diff want - >&2
         # the top layer umoci made, with its whiteouts, over the tree below it
         img-layer extract changed | img-layer ls --files | sed -E 's/.* [0-9]{2}:[0-9]{2} //'",
    )
    .ok();
    // Exactly what changed: two removals, the new tree, the new link, the
    // changed file, and the directories holding them. (The grep this
    // replaces dropped every line: its ` ./` matched the owner column.)
    let mut top: Vec<&str> = run.stdout.lines().collect();
    top.sort();
    assert_eq!(
        top,
        [
            "./",
            "bin/",
            "bin/srv -> ../srv",
            "etc/",
            "etc/passwd (removed)",
            "hello.txt",
            "srv/",
            "srv/data/",
            "srv/data/f",
            "tmp (removed)",
        ],
        "{}",
        run.stdout
    );
    env.check_store();
}

#[test]
fn apply_refuses_escapes() {
    let env = Env::new();
    let run = sh(
        &env,
        "set -e; mkdir -p x out s1 s2/l
         echo evil > ../evil-$$ ; tar -cPf up.tar ../evil-$$ ; rm ../evil-$$
         ln -s $PWD/out s1/l; tar -C s1 -cf link.tar l
         echo owned > s2/l/owned; tar -C s2 -cf through.tar l/owned
         img-layer apply link.tar x; img-layer apply through.tar x
         test ! -e out/owned; test \"$(cat x$PWD/out/owned)\" = owned
         img-layer apply up.tar x",
    )
    .code(2);
    assert!(
        run.stderr.contains("points outside the root"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    // `../evil-PID` applied into x would land here, beside x.
    let here: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(here.contains(&"up.tar".to_string()), "{here:?}");
    assert!(!here.iter().any(|n| n.starts_with("evil-")), "{here:?}");
}

#[test]
fn ls_lists_the_manifest_layers() {
    if !need(&["skopeo", "jq"]) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let run = sh(
        &env,
        "set -e; skopeo inspect --raw oci:$STORE:derived | jq -c '.layers[]' > want
         img-layer ls --json derived | jq -cS . | diff <(jq -cS . want) - >&2
         skopeo inspect --raw oci:$STORE:derived | jq -r '.layers[].digest' > digests
         img-layer ls -q --no-trunc derived | diff digests - >&2
         img-layer ls -q derived | diff <(cut -c8-19 digests) - >&2
         skopeo inspect --config oci:$STORE:derived | jq -r '.rootfs.diff_ids[]' > diffids
         img-layer ls --no-trunc derived | tail -n +2 | awk '{print $2}' | diff diffids - >&2
         img-layer ls derived",
    )
    .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with("DIGEST"), "{}", lines[0]);
    assert!(lines[0].contains("DIFF ID") && lines[0].contains("MEDIA TYPE"));
    assert!(
        lines[1].contains("application/vnd.oci.image.layer.v1.tar+gzip"),
        "{}",
        lines[1]
    );
    // A record on stdin names the image too.
    let piped = sh(&env, "img-tag derived again:1 | img-layer ls -q").ok();
    assert_eq!(piped.stdout.lines().count(), 2);
    env.check_store();
}

#[test]
fn extract_writes_the_stored_blob_or_its_tar() {
    if !need(&["skopeo", "jq"]) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    sh(
        &env,
        "set -e; m=$(skopeo inspect --raw oci:$STORE:derived)
         top=$(jq -r '.layers[-1].digest' <<<\"$m\"); bottom=$(jq -r '.layers[0].digest' <<<\"$m\")
         ids=$(skopeo inspect --config oci:$STORE:derived)
         test \"sha256:$(img-layer extract derived | sha256sum | cut -c1-64)\" = $top
         test \"sha256:$(img-layer extract derived 0 | sha256sum | cut -c1-64)\" = $bottom
         test \"sha256:$(img-layer extract derived ${bottom:7:16} | sha256sum | cut -c1-64)\" = $bottom
         img-layer extract derived --uncompressed -o top.tar
         test \"sha256:$(sha256sum < top.tar | cut -c1-64)\" = $(jq -r '.rootfs.diff_ids[-1]' <<<\"$ids\")
         img-layer extract derived $(jq -r '.rootfs.diff_ids[0]' <<<\"$ids\") --uncompressed | tar -t > bottom.list
         grep -x bin/busybox bottom.list; tar -tf top.tar | grep -x hello.txt
         img-tag derived d:2 | img-layer extract - 1 | gzip -t",
    )
    .ok();
    env.check_store();
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let env = Env::new();
    env.seed("other", "other");
    let before = env.index_bytes();
    for (script, code, says) in [
        ("img-layer create nope > o", 2, "nope: no such directory"),
        (
            "mkdir -p t; img-layer diff nope t > o",
            2,
            "no such directory",
        ),
        (
            "mkdir -p t; img-layer apply t/missing.tar t",
            1,
            "missing.tar",
        ),
        (
            "echo x > f; img-layer apply f /nonexistent-dir",
            2,
            "no such directory",
        ),
        (
            "mkdir -p t; echo 'not a tar at all' | img-layer apply - t",
            2,
            "not a valid layer tar",
        ),
        ("img-layer extract nosuchimage > o", 1, "nosuchimage"),
        ("img-layer ls nosuchimage", 1, "nosuchimage"),
        ("img-layer extract other 7 > o", 1, "no layer 7"),
        ("img-layer extract other sha256:ffff > o", 1, "no layer"),
    ] {
        let run = env.sh(script).code(code);
        assert!(run.stderr.contains(says), "{script}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{script}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("img-layer: error: "),
            "{}",
            run.stderr
        );
    }
    let run = env.sh("img-layer create --compression lz4 . > o").code(2);
    assert!(run.stderr.contains("lz4"), "{}", run.stderr);
    // -o leaves no file behind when the layer could not be made.
    env.sh("img-layer create nope -o made.tar; test ! -e made.tar")
        .ok();
    assert_eq!(env.index_bytes(), before);
    env.check_store();
}

#[test]
fn the_archive_is_never_part_of_itself() {
    let env = Env::new();
    sh(
        &env,
        "set -e; mkdir t; echo a > t/a; cd t
         img-layer create . > self.tar; test \"$(tar -tf self.tar)\" = a
         img-layer diff ../t . > d.tar; tar -tf d.tar >&2
         ! img-layer create . -o inside.tar 2>err; grep -q 'is inside' err; test ! -e inside.tar",
    )
    .ok();
}

#[test]
fn extract_of_a_corrupt_blob_fails_and_writes_nothing() {
    if !need(&["skopeo", "jq"]) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let run = sh(
        &env,
        "set -e; top=$(skopeo inspect --raw oci:$STORE:derived | jq -r '.layers[-1].digest')
         f=$STORE/blobs/sha256/${top#sha256:}; chmod u+w $f
         printf 'X' | dd of=$f bs=1 seek=20 conv=notrunc status=none
         img-layer extract derived -o top.tar.gz && echo code=0 >&2 || echo code=$? >&2; test ! -e top.tar.gz
         img-layer extract derived --uncompressed -o top.tar || echo code=$? >&2
         test ! -e top.tar",
    )
    .ok();
    assert!(run.stderr.contains("code=2"), "{}", run.stderr);
    assert!(!run.stderr.contains("code=0"), "{}", run.stderr);
}

#[test]
fn ls_files_reads_like_tar_tv() {
    let env = Env::new();
    let run = sh(
        &env,
        "set -e; umask 022; mkdir -p t/d; echo hi > t/d/f; ln -s f t/d/l; chmod 755 t/d; chmod 640 t/d/f
         mkdir -p w/d; touch w/d/.wh.gone w/d/.wh..wh..opq
         find t w -exec touch -h -d @86400 {} +
         { img-layer create t; } | img-layer ls --files
         tar -C w -cf - d/.wh.gone d/.wh..wh..opq | gzip | img-layer ls --files -",
    )
    .ok();
    let me = sh(&env, "echo $(id -u)/$(id -g)").ok().stdout;
    let me = me.trim();
    let want = format!(
        "drwxr-xr-x {me:>9}          0 1970-01-02 00:00 d/\n\
         -rw-r----- {me:>9}          3 1970-01-02 00:00 d/f\n\
         lrwxrwxrwx {me:>9}          0 1970-01-02 00:00 d/l -> f\n\
         -rw-r--r-- {me:>9}          0 1970-01-02 00:00 d/gone (removed)\n\
         -rw-r--r-- {me:>9}          0 1970-01-02 00:00 d/ (opaque: lower contents removed)\n"
    );
    assert_eq!(run.stdout, want);
}

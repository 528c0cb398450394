//! The store itself: where it lives, what it refuses, what other OCI tools
//! make of it, and many programs writing to it at once.

use img_tests::{need, peers, Env};

#[test]
fn default_root_and_refusing_foreign_directories() {
    let env = Env::new();
    env.sh("mkdir home && env -u IMG_ROOT HOME=$PWD/home img-ls -q")
        .ok();
    assert!(env.path("home/.local/share/img-store/oci-layout").is_file());
    env.sh("env -u IMG_ROOT XDG_DATA_HOME=$PWD/xdg img-ls -q")
        .ok();
    assert!(env.path("xdg/img-store/index.json").is_file());
    env.sh("mkdir mine && echo notes > mine/notes.txt").ok();
    let run = env.sh("img-ls --root mine").code(1);
    assert!(
        run.stderr.contains("not an OCI image layout"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1);
    let left = env.sh("ls -A mine").ok().stdout;
    assert_eq!(
        left, "notes.txt\n",
        "nothing written into a foreign directory"
    );
}

#[test]
fn a_broken_index_is_reported_not_overwritten() {
    let env = Env::new();
    env.sh("img-ls -q && echo '{not json' > $STORE/index.json")
        .ok();
    let run = env.sh("img-ls").code(1);
    assert!(
        run.stderr.contains("index.json is not a valid OCI index"),
        "{}",
        run.stderr
    );
    let run = env.sh("img-tag a b").code(1);
    assert!(run.stderr.starts_with("img-tag: error: "), "{}", run.stderr);
    assert_eq!(
        std::fs::read(env.store().join("index.json")).unwrap(),
        b"{not json\n"
    );
}

#[test]
fn a_layout_written_by_umoci_is_a_store() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.sh("cp -r $FIXTURES $STORE").ok();
    let run = env.sh("img-ls --format '{{.Repository}}:{{.Tag}}'").ok();
    let mut names: Vec<&str> = run.stdout.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "base:latest",
            "derived:latest",
            "multi:latest",
            "other-arm64:latest",
            "other:latest"
        ]
    );
    env.sh("img-tag base busybox:1 && img-rm other").ok();
    env.check_store();
}

#[test]
fn other_tools_read_what_img_writes() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived");
    env.sh("img-tag busybox localhost:5000/team/box:1 && img-rm derived")
        .ok();
    let run = env
        .sh("skopeo inspect oci:$STORE:localhost:5000/team/box:1")
        .ok();
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["Layers"].as_array().unwrap().len(), 1);
    env.sh("umoci ls --layout $STORE | grep -qx 'localhost:5000/team/box:1'")
        .ok();
    env.sh("umoci unpack --image $STORE:busybox bundle && test -x bundle/rootfs/bin/busybox")
        .ok();
    env.sh("skopeo copy -q oci:$STORE:localhost:5000/team/box:1 oci:copy:x")
        .ok();
    env.check_store();
}

#[test]
fn concurrent_tags_and_removals_lose_nothing() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    // 8 writers; each tags 12 names and removes all but its last one, while
    // the others do the same.
    let script = r#"
        worker() {
          i=$1
          for j in $(seq 1 12); do
            img-tag busybox w$i:$j >/dev/null || exit 1
            if [ $j -gt 1 ]; then img-rm w$i:$((j-1)) >/dev/null || exit 1; fi
            img-tag other o$i:$j >/dev/null || exit 1
          done
        }
        pids=""
        for i in $(seq 1 8); do worker $i & pids="$pids $!"; done
        for p in $pids; do wait $p || exit 1; done
    "#;
    env.sh(script).ok();
    let run = env.sh("img-ls --format '{{.Repository}}:{{.Tag}}'").ok();
    let names: Vec<&str> = run.stdout.lines().collect();
    for i in 1..=8 {
        assert!(
            names.contains(&format!("w{i}:12").as_str()),
            "w{i}:12 lost: {names:?}"
        );
        for j in 1..12 {
            assert!(
                !names.contains(&format!("w{i}:{j}").as_str()),
                "w{i}:{j} not removed"
            );
        }
        for j in 1..=12 {
            assert!(
                names.contains(&format!("o{i}:{j}").as_str()),
                "o{i}:{j} lost"
            );
        }
    }
    assert_eq!(names.len(), 2 + 8 + 8 * 12, "{names:?}");
    env.sh("jq -e '.manifests | length == 106' $STORE/index.json")
        .ok();
    env.check_store();
}

//! img-rm: Docker's untag/delete rules, garbage collection, errors.

use img_tests::{need, peers, Env};

#[test]
fn untag_then_delete() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived");
    env.sh("img-tag busybox mybusybox").ok();
    let base_id = env.id("busybox");
    let blobs = env.blob_count();
    // the seed's own words: `docker rmi mybusybox` prints only Untagged
    let run = env.sh("img-rm mybusybox").ok();
    assert_eq!(run.stdout, "Untagged: mybusybox:latest\n");
    assert_eq!(env.blob_count(), blobs);
    // the last name: the image goes; derived still uses the busybox layer
    let run = env.sh("img-rm busybox").ok();
    // layers go by chain ID, as Docker's layer store names them: the
    // bottom layer's is its diff_id
    let layer = env
        .sh("img-inspect -f '{{index .RootFS.Layers 0}}' derived")
        .ok()
        .stdout;
    assert_eq!(
        run.stdout,
        format!("Untagged: busybox:latest\nDeleted: {base_id}\n")
    );
    assert!(!run.stdout.contains(layer.trim()), "a shared layer is kept");
    // the base's manifest and config went, the shared layer stayed
    assert_eq!(env.blob_count(), blobs - 2);
    env.check_store();
    // deleting derived removes its layers too, top first
    let derived_id = env.id("derived");
    let run = env.sh("img-rm derived").ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "Untagged: derived:latest");
    assert_eq!(lines[1], format!("Deleted: {derived_id}"));
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert_eq!(lines[3], format!("Deleted: {}", layer.trim()));
    assert_eq!(env.blob_count(), 0);
    env.check_store();
}

#[test]
fn by_id_needs_force_when_shared() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-tag busybox other/box:1").ok();
    let id = env.id("busybox");
    let short = &id[7..19];
    let before = env.index_bytes();
    let run = env.sh(&format!("img-rm {short}")).code(1);
    assert_eq!(
        run.stderr,
        format!("img-rm: error: conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories\n")
    );
    assert_eq!(
        env.index_bytes(),
        before,
        "a refused removal changes nothing"
    );
    let run = env.sh(&format!("img-rm -f {short}")).ok();
    assert!(
        run.stdout
            .starts_with("Untagged: busybox:latest\nUntagged: other/box:1\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("Deleted: {id}\n")));
    assert_eq!(env.sh("img-ls -q").ok().stdout, "");
    env.check_store();
}

#[test]
fn by_id_with_one_name_and_by_digest() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    let id = env.id("busybox");
    let run = env.sh(&format!("img-rm {}", &id[7..])).ok();
    assert!(
        run.stdout
            .starts_with(&format!("Untagged: busybox:latest\nDeleted: {id}\n")),
        "{}",
        run.stdout
    );
    let digest = env
        .sh("img-inspect -f '{{.Descriptor.digest}}' other")
        .ok()
        .stdout;
    let run = env.sh(&format!("img-rm other@{}", digest.trim())).ok();
    assert!(
        run.stdout.starts_with("Untagged: other:latest\n"),
        "{}",
        run.stdout
    );
    env.check_store();
}

#[test]
fn no_prune_keeps_blobs() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let blobs = env.blob_count();
    let run = env.sh("img-rm --no-prune busybox").ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert_eq!(env.blob_count(), blobs);
    assert_eq!(env.sh("img-ls -q").ok().stdout, "");
    env.check_store();
}

#[test]
fn errors_do_not_stop_the_others() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    let run = env.sh("img-rm nosuch other Bad/Name").code(2);
    assert_eq!(
        run.stderr.lines().collect::<Vec<_>>(),
        [
            "img-rm: error: No such image: nosuch:latest",
            "img-rm: error: invalid reference \"Bad/Name\": repository name must be lowercase",
        ]
    );
    assert!(
        run.stdout.starts_with("Untagged: other:latest\n"),
        "{}",
        run.stdout
    );
    let run = env.sh("img-rm nosuch").code(1);
    assert_eq!(run.stderr, "img-rm: error: No such image: nosuch:latest\n");
    env.check_store();
}

#[test]
fn records_from_stdin() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let run = env.sh("img-tag busybox a:1 | img-rm").ok();
    assert_eq!(run.stdout, "Untagged: a:1\n");
    let run = env.sh("echo '{\"not\": \"a record\"}' | img-rm").code(2);
    assert!(run.stderr.contains("stdin line 1"), "{}", run.stderr);
    env.check_store();
}

#[test]
fn multi_platform_index_is_removed_whole() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed_all("multi", "multi");
    let run = env.sh("img-rm multi").ok();
    assert!(
        run.stdout
            .starts_with("Untagged: multi:latest\nDeleted: sha256:"),
        "{}",
        run.stdout
    );
    assert_eq!(env.blob_count(), 0);
    env.check_store();
}

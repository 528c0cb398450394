use img_tests::{need, peers, Env};

#[test]
fn tag_by_name_and_from_stdin() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let run = env.sh("img-tag busybox:latest mybusybox:latest").ok();
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/mybusybox:latest"
    );
    let run = env
        .sh("img-tag busybox z:1 | img-tag localhost:5000/x/y:2")
        .ok();
    assert_eq!(run.records().len(), 1);
    // skopeo reads what img wrote
    env.sh("skopeo inspect oci:$STORE:localhost:5000/x/y:2 >/dev/null")
        .ok();
    env.check_store();
}

#[test]
fn tag_rejects_bad_names_and_unknown_images() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let before = std::fs::read(env.store().join("index.json")).unwrap();
    let run = env.sh("img-tag busybox Bad/Name").code(2);
    assert!(run.stderr.starts_with("img-tag: error: "), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1);
    let digest = format!("sha256:{}", "0".repeat(64));
    let run = env.sh(&format!("img-tag busybox x@{digest}")).code(2);
    assert_eq!(
        run.stderr,
        format!("img-tag: error: cannot name an image with a digest reference \"x@{digest}\": give the new name a tag\n")
    );
    // a repository name that reads as an image ID, refused as Docker does
    let hex = "ab".repeat(32);
    let run = env.sh(&format!("img-tag busybox {hex}")).code(2);
    assert_eq!(
        run.stderr,
        format!("img-tag: error: invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings\n")
    );
    let run = env.sh("img-tag nosuch x").code(1);
    assert!(
        run.stderr.contains("No such image: nosuch"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(env.store().join("index.json")).unwrap(),
        before
    );
}

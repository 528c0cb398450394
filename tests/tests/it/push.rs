#![allow(clippy::unwrap_used)]

use img_tests::registry::{big_fixture, free_port, remote_digest, Auth, Registry, PASSWORD, USER};
use img_tests::{fixtures, need, peers, Env};

#[test]
fn pushed_images_are_read_by_skopeo_unchanged() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    env.seed("base", "base");
    let host = &registry.host;
    let run = env
        .sh(&format!("img-push base --to {host}/test/base:1"))
        .ok();
    let record = &run.records()[0];
    assert_eq!(
        record["annotations"]["org.opencontainers.image.ref.name"],
        format!("{host}/test/base:1")
    );
    let digest = record["digest"].as_str().unwrap();
    assert_eq!(remote_digest(&env, &format!("{host}/test/base:1")), digest);
    assert!(
        run.stderr
            .contains(&format!("The push refers to repository [{host}/test/base]")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("1: digest: {digest} size: ")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(": Pushed"), "{}", run.stderr);
    // skopeo copies it back, equal to the original
    env.sh(&format!(
        "skopeo copy -q --src-tls-verify=false docker://{host}/test/base:1 oci:back:base
         test \"$(skopeo inspect --raw oci:back:base | sha256sum)\" = \"$(skopeo inspect --raw oci:$STORE:base | sha256sum)\"
         test \"$(skopeo inspect --raw --config oci:back:base | sha256sum)\" = \"$(skopeo inspect --raw --config oci:$STORE:base | sha256sum)\""
    ))
    .ok();
    // again: everything exists, nothing uploaded
    let uploads = registry.requests("PUT", "/blobs/uploads/");
    let run = env
        .sh(&format!("img-push base --to {host}/test/base:1"))
        .ok();
    assert!(
        run.stderr.contains("Layer already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), uploads);
    // by its own name, from a record on stdin
    env.sh(&format!("img-tag base {host}/test/own:2 | img-push"))
        .ok();
    assert_eq!(remote_digest(&env, &format!("{host}/test/own:2")), digest);
    env.check_store();
}

#[test]
fn only_new_layers_are_uploaded_and_shared_ones_mounted() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    // the base is in the registry (pushed by skopeo), and pulled from there
    registry.skopeo_push(&fixtures(), "other", "team/other:1");
    env.sh(&format!("img-pull -q {host}/team/other:1")).ok();
    env.seed("other", "mine");
    env.sh(&format!("img-tag mine {host}/team/mine:1")).ok();
    let uploads = registry.requests("PUT", "/blobs/uploads/");
    let run = env.sh(&format!("img-push {host}/team/mine:1")).ok();
    assert!(
        run.stderr.contains("Mounted from team/other"),
        "{}",
        run.stderr
    );
    assert_eq!(
        registry.requests("PUT", "/blobs/uploads/") - uploads,
        0,
        "config and layer exist or are mounted: {}",
        run.stderr
    );
    assert!(registry.requests("POST", "mount=") >= 1);

    // a derived image whose base is already in that repository: only its new blobs go
    registry.skopeo_push(&fixtures(), "base", "team/app:base");
    env.seed("derived", "derived");
    let before = registry.requests("PUT", "/blobs/uploads/");
    let run = env
        .sh(&format!("img-push derived --to {host}/team/app:2"))
        .ok();
    let uploaded = registry.requests("PUT", "/blobs/uploads/") - before;
    let existing = run.stderr.matches("Layer already exists").count();
    let layers = run.stderr.matches(": Preparing").count();
    assert_eq!(uploaded + existing, layers + 1, "{}", run.stderr);
    assert!(existing >= 1, "{}", run.stderr);
    env.check_store();
}

#[test]
fn pushes_large_blobs_in_chunks() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    std::fs::create_dir_all(env.store()).unwrap();
    env.sh(&format!(
        "skopeo copy -q oci:{}:big oci:$STORE:big",
        big_fixture().display()
    ))
    .ok();
    let run = env.sh(&format!("img-push big --to {host}/test/big:1")).ok();
    assert!(
        registry.requests("PATCH", "/blobs/uploads/") >= 2,
        "chunked upload"
    );
    assert_eq!(
        remote_digest(&env, &format!("{host}/test/big:1")),
        run.records()[0]["digest"].as_str().unwrap()
    );
    env.sh(&format!(
        "skopeo copy -q --src-tls-verify=false docker://{host}/test/big:1 oci:back:big"
    ))
    .ok();
    img_tests::check_layout(&env.path("back"));
}

/// A multi-platform index — from the store, and pulled with
/// --all-platforms from another registry — goes to the registry whole: the
/// same index bytes, and every platform's manifest beside it.
#[test]
fn a_multi_platform_index_goes_back_whole() {
    if !need(peers::TLS_REGISTRY) || !need(&["jq"]) {
        return;
    }
    let env = Env::new();
    env.seed_all("multi", "multi");
    let first = Registry::open();
    let second = Registry::open();
    let (a, b) = (&first.host, &second.host);
    let index = env
        .sh("skopeo inspect --raw oci:$STORE:multi | sha256sum | cut -d' ' -f1")
        .ok()
        .stdout;
    let index = format!("sha256:{}", index.trim());
    let children = env
        .sh("skopeo inspect --raw oci:$STORE:multi | jq -r '.manifests[].digest'")
        .ok()
        .stdout;
    let children: Vec<&str> = children.lines().collect();
    assert_eq!(children.len(), 2, "the fixture is an index of two");
    // From the store to the first registry…
    let run = env
        .sh(&format!("img-push multi --to {a}/test/multi:1"))
        .ok();
    assert_eq!(run.records()[0]["digest"], index.as_str());
    assert_eq!(remote_digest(&env, &format!("{a}/test/multi:1")), index);
    // …pulled whole into another store, and pushed on to the second.
    let env2 = Env::new();
    env2.sh(&format!(
        "img-pull -q --all-platforms {a}/test/multi:1 && img-push {a}/test/multi:1 --to {b}/copy/multi:1"
    ))
    .ok();
    for host in [a, b] {
        let repository = if host == a {
            "test/multi"
        } else {
            "copy/multi"
        };
        assert_eq!(
            remote_digest(&env, &format!("{host}/{repository}:1")),
            index,
            "{host}"
        );
        for child in &children {
            assert_eq!(
                remote_digest(&env, &format!("{host}/{repository}@{child}")),
                *child,
                "{host} lacks the manifest {child}"
            );
        }
    }
    // Every platform's image is there, as skopeo copies it back.
    env.sh(&format!(
        "skopeo copy -q --all --src-tls-verify=false docker://{b}/copy/multi:1 oci:back:multi"
    ))
    .ok();
    img_tests::check_layout(&env.path("back"));
    env.check_store();
    env2.check_store();
}

#[test]
fn push_failures_are_one_line() {
    if !need(peers::TLS_REGISTRY) || !need(&["htpasswd"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "base");
    let closed = format!("127.0.0.1:{}", free_port());
    let run = env.sh(&format!("img-push base --to {closed}/x:1")).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("img-push: error: pushing"),
        "{}",
        run.stderr
    );
    let run = env.sh("img-push nosuch:1 --to localhost:1/x").code(1);
    assert!(run.stderr.contains("No such image"), "{}", run.stderr);
    let basic = Registry::start(Auth::Htpasswd, false);
    let run = env
        .sh(&format!(
            "img-push base --to {}/x:1 --creds {USER}:bad",
            basic.host
        ))
        .code(1);
    assert!(!run.stderr.contains(":bad"), "{}", run.stderr);
    assert!(
        run.stderr.lines().last().unwrap().contains("error"),
        "{}",
        run.stderr
    );
    env.sh(&format!(
        "img-push -q base --to {}/x:1 --creds {USER}:{PASSWORD}",
        basic.host
    ))
    .ok();
    env.check_store();
}

/// img-build keeps its layers uncompressed, as Docker's store does;
/// img-push gzips them first and the store's image takes that form under
/// all its names: the record, the registry and the store agree on the
/// digest, the image ID stays, and the same build pushed from another
/// store gives the same digest.
#[test]
fn built_layers_leave_gzipped_and_the_store_keeps_the_pushed_form() {
    let mut wanted = peers::TLS_REGISTRY.to_vec();
    wanted.push("runc");
    if !need(&wanted) {
        return;
    }
    let registry = Registry::open();
    let host = &registry.host;
    let build = |env: &Env| -> String {
        env.seed("base", "base");
        env.write(
            "ctx/Dockerfile",
            "FROM base\nCOPY data.txt /data.txt\nRUN echo ran >/ran\n",
        );
        env.write("ctx/data.txt", &"some text to compress\n".repeat(5_000));
        let run = env
            .sh("img-build --source-date-epoch 0 -t app:1 ctx && img-tag app:1 app:2")
            .ok();
        run.records()[0]["digest"].as_str().unwrap().to_string()
    };
    let env = Env::new();
    let built = build(&env);
    let id = env.id("app:1");
    let media_types = |env: &Env, name: &str| -> Vec<String> {
        let image = env.image(name);
        image
            .manifest
            .layers()
            .iter()
            .map(|l| l.media_type().to_string())
            .collect()
    };
    assert_eq!(
        media_types(&env, "app:1"),
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar"
        ],
        "the base's layer as pulled, the two new ones uncompressed"
    );

    let run = env
        .sh(&format!("img-push app:1 --to {host}/app/built:1"))
        .ok();
    let pushed = run.records()[0]["digest"].as_str().unwrap().to_string();
    assert_ne!(pushed, built);
    assert_eq!(remote_digest(&env, &format!("{host}/app/built:1")), pushed);
    for name in ["app:1", "app:2"] {
        let layers = media_types(&env, name);
        assert!(
            layers
                .iter()
                .all(|m| m == "application/vnd.oci.image.layer.v1.tar+gzip"),
            "{name}: {layers:?}"
        );
        assert_eq!(env.id(name), id, "{name}");
    }
    assert!(
        run.stderr.contains(&format!("1: digest: {pushed} size: ")),
        "{}",
        run.stderr
    );
    // The pushed form is the store's: pushed again, nothing is sent.
    let uploads = registry.requests("PUT", "/blobs/uploads/");
    let run = env
        .sh(&format!("img-push app:2 --to {host}/app/built:2"))
        .ok();
    assert_eq!(run.records()[0]["digest"], pushed.as_str());
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), uploads);
    // skopeo reads back what was pushed: the same bytes as the store's.
    env.sh(&format!(
        "skopeo copy -q --src-tls-verify=false docker://{host}/app/built:1 oci:back:app
         test \"$(skopeo inspect --raw oci:back:app | sha256sum)\" = \"$(skopeo inspect --raw oci:$STORE:docker.io/library/app:1 | sha256sum)\""
    ))
    .ok();
    env.check_store();

    // The same build in another store pushes to the same digest.
    let other = Env::new();
    assert_eq!(build(&other), built);
    let run = other
        .sh(&format!("img-push app:1 --to {host}/app/built:3"))
        .ok();
    assert_eq!(run.records()[0]["digest"], pushed.as_str());
}

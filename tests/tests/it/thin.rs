//! Thin archives for air-gapped sites: `img-ls --blobs` on the receiving
//! side, `img-save --exclude-blobs-from` on the sending side, `img-load`
//! completing the images from its store — and peers (Docker 20.10, skopeo,
//! podman) never loading a broken image from one.

use img_tests::archive::podman;
use img_tests::docker::docker;
use img_tests::{need, peers, Env};

/// `sender`: a base image unique to this test run (a layer no peer has) as
/// `ubase:1`, and `app:2` on top of it with a small layer of its own. The
/// receiving store `receiver` holds `ubase:1`. Returns (base layer size,
/// app layer size).
fn two_sites(env: &Env) -> (u64, u64) {
    env.sh(&format!(
        "set -e
         mkdir -p root/bin && cp \"$(command -v busybox)\" root/bin/busybox && ln -s busybox root/bin/sh
         echo {unique} > root/unique
         tar -C root -c . | img-import --root sender -c 'CMD [\"sh\"]' - ubase:1 >/dev/null 2>&1
         mkdir -p app && echo 'hello from app 2' > app/app.txt
         tar -C app -c . | img-commit --root sender ubase:1 app:2 >/dev/null
         img-save --root sender ubase:1 | img-load -q --root receiver >/dev/null",
        unique = std::process::id() as u128 * 1_000_000_007 + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ))
    .ok();
    let layers = |image: &str| -> Vec<u64> {
        let run = env
            .sh(&format!(
                "skopeo inspect --raw oci:sender:docker.io/library/{image}"
            ))
            .ok();
        let manifest: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .collect()
    };
    let app = layers("app:2");
    (app[0], app[1])
}

fn id(env: &Env, root: &str, image: &str) -> String {
    env.sh(&format!(
        "img-inspect --root {root} -f '{{{{.Id}}}}' {image}"
    ))
    .ok()
    .stdout
    .trim()
    .to_string()
}

#[test]
fn a_thin_archive_holds_the_changed_layers_and_loads_where_the_base_is() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    let (base_layer, app_layer) = two_sites(&env);
    assert!(base_layer > 500_000, "the base layer holds busybox");

    // The air-gapped update in three commands (and what the receiving
    // side has, as records, for later).
    env.sh("img-ls --root receiver --json > have.ndjson").ok();
    env.sh("img-ls --root receiver --blobs > have.txt
         img-save --root sender --exclude-blobs-from have.txt -o app-2.tar app:2
         img-load --root receiver -i app-2.tar")
        .ok();
    assert_eq!(id(&env, "receiver", "app:2"), id(&env, "sender", "app:2"));
    img_tests::check_layout(&env.path("receiver"));

    // The archive holds the app's layer, its config and manifest, and the
    // descriptions: nothing of the base.
    let size = std::fs::metadata(env.path("app-2.tar")).unwrap().len();
    let metadata = 16 << 10;
    assert!(
        size <= app_layer + metadata,
        "{size} bytes for a layer of {app_layer}"
    );
    let listing = env.sh("tar -tf app-2.tar").ok().stdout;
    let blobs = listing
        .lines()
        .filter(|l| l.starts_with("blobs/sha256/") && l.len() > 14);
    assert_eq!(blobs.count(), 3, "{listing}");
    let index: serde_json::Value =
        serde_json::from_str(&env.sh("tar -xOf app-2.tar index.json").ok().stdout).unwrap();
    let have = std::fs::read_to_string(env.path("have.txt")).unwrap();
    let left_out = index["annotations"]["io.img.archive.blobs-left-out"]
        .as_str()
        .unwrap();
    assert_eq!(left_out.split(',').count(), 1);
    assert!(
        have.lines().any(|l| l == left_out),
        "{left_out} not in {have}"
    );

    // The same archive from records of what the other side has, and from
    // an image of this store that the other side holds.
    env.sh(
        "img-save --root sender --exclude-blobs-from have.ndjson -o from-records.tar app:2
         img-save --root sender --exclude-image ubase:1 -o from-image.tar app:2
         cat have.txt | img-save --root sender --exclude-blobs-from - -o from-stdin.tar app:2
         cmp app-2.tar from-records.tar && cmp app-2.tar from-image.tar && cmp app-2.tar from-stdin.tar",
    )
    .ok();
}

#[test]
fn a_thin_archive_fails_cleanly_where_the_base_is_missing() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    two_sites(&env);
    env.sh("img-save --root sender --exclude-image ubase:1 -o app-2.tar app:2")
        .ok();
    let base_layer = env
        .sh("tar -xOf app-2.tar index.json | jq -r '.annotations[\"io.img.archive.blobs-left-out\"]'")
        .ok()
        .stdout
        .trim()
        .to_string();
    std::fs::create_dir_all(env.path("empty")).unwrap();
    env.sh("img-ls --root empty >/dev/null").ok();
    let before = std::fs::read(env.path("empty/index.json")).unwrap();
    let run = env.sh("img-load --root empty -i app-2.tar").code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{base_layer} (needed by app:2)")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert_eq!(std::fs::read(env.path("empty/index.json")).unwrap(), before);
    img_tests::check_layout(&env.path("empty"));

    // A list that is not one is refused, with its line.
    std::fs::write(env.path("bad.txt"), "sha256:abc\n").unwrap();
    let run = env
        .sh("img-save --root sender --exclude-blobs-from bad.txt app:2 > x.tar")
        .code(2);
    assert!(run.stderr.contains("bad.txt:1:"), "{}", run.stderr);
}

#[test]
fn docker_loads_a_thin_archive_only_when_it_has_the_base() {
    if !need(peers::FIXTURES) {
        return;
    }
    let Some(docker) = docker() else { return };
    let env = Env::new();
    two_sites(&env);
    env.sh("img-save --root sender --exclude-image ubase:1 -o app-2.tar app:2")
        .ok();
    // This engine never saw the unique base: it refuses, and has no app:2.
    let run = docker.sh(&env, "docker load -i app-2.tar");
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("no such file"), "{}", run.stderr);
    let run = docker.sh(&env, "docker image inspect app:2");
    assert_ne!(run.code, 0);
    // Given the base, it completes the image from its own layers.
    docker
        .sh(&env, "img-save --root sender ubase:1 | docker load -q")
        .ok();
    docker.sh(&env, "docker load -q -i app-2.tar").ok();
    let theirs = docker
        .sh(&env, "docker image inspect -f '{{.Id}}' app:2")
        .ok()
        .stdout;
    assert_eq!(theirs.trim(), id(&env, "sender", "app:2"));
}

#[test]
fn skopeo_and_podman_never_load_a_broken_image_from_a_thin_archive() {
    if !need(peers::FIXTURES) || !need(&["podman"]) {
        return;
    }
    let env = Env::new();
    two_sites(&env);
    env.sh("img-save --root sender --exclude-image ubase:1 -o app-2.tar app:2")
        .ok();
    for source in ["docker-archive:app-2.tar", "oci-archive:app-2.tar"] {
        let run = env.sh(&format!("skopeo copy -q {source} oci:copied:app"));
        assert_ne!(run.code, 0, "{source}: {}", run.stdout);
        let named = env.sh("skopeo inspect oci:copied:app");
        assert_ne!(named.code, 0, "{source}: skopeo made an image");
    }
    let podman = podman(&env);
    let run = env.sh(&format!("{podman} load -i app-2.tar"));
    assert_ne!(run.code, 0, "{}", run.stdout);
    let images = env.sh(&format!("{podman} images -q")).ok();
    assert_eq!(images.stdout, "", "podman kept an image");
    // Given the base, podman completes the image from its own store.
    env.sh(&format!(
        "img-save --root sender ubase:1 -o ubase.tar && {podman} load -q -i ubase.tar && {podman} load -q -i app-2.tar"
    ))
    .ok();
    let theirs = env
        .sh(&format!("{podman} image inspect -f '{{{{.Id}}}}' app:2"))
        .ok()
        .stdout;
    assert_eq!(
        format!("sha256:{}", theirs.trim()),
        id(&env, "sender", "app:2")
    );
}

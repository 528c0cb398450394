//! img-build --cache-to/--cache-from: two stores stand for two CI
//! machines sharing one real docker-registry on 127.0.0.1 (or an OCI
//! layout directory); what machine B downloads is counted through the HTTP
//! proxy in front of the registry; skopeo and umoci read what img writes.
//! Caches in other places, and reached through credentials, TLS or
//! mirrors, are in `places.rs`.

use std::collections::BTreeSet;

use img_tests::http_proxy::HttpProxy;
use img_tests::registry::{free_port, Auth, Registry, PASSWORD, USER};
use img_tests::{need, Env};
use serde_json::Value;

mod places;

const PEERS: &[&str] = &["runc", "skopeo", "umoci", "docker-registry"];

const DOCKERFILE: &str = r#"FROM base
ENV APP=/app
COPY a.txt /app/
RUN cat /app/a.txt /app/a.txt > /app/twice.txt
COPY b.txt /app/
CMD ["sh", "-c", "cat /app/b.txt"]
"#;

const TWO_STAGES: &str = r#"FROM base AS builder
COPY a.txt /src/
RUN cat /src/a.txt /src/a.txt > /built.txt
FROM base
COPY --from=builder /built.txt /app/
COPY b.txt /app/
CMD ["sh", "-c", "cat /app/built.txt"]
"#;

/// A machine: a store with the busybox fixture as `base`, and a context
/// `ctx` with the Dockerfile, `a.txt` and `b.txt`.
fn machine(dockerfile: &str, b: &str) -> Env {
    let env = Env::new();
    env.seed("base", "base");
    env.write("ctx/Dockerfile", dockerfile);
    env.write("ctx/a.txt", "alpha\n");
    env.write("ctx/b.txt", b);
    env
}

/// The blob digests fetched with GET through `proxy`.
fn blob_gets(proxy: &HttpProxy) -> Vec<String> {
    proxy
        .requests("GET", "/blobs/sha256:")
        .iter()
        .map(|s| s.target.rsplit('/').next().unwrap().to_string())
        .collect()
}

fn count(text: &str, part: &str) -> usize {
    text.matches(part).count()
}

/// The uncompressed digests (`containerd.io/uncompressed`) of a cache
/// manifest's layers.
fn uncompressed_digests(manifest: &Value) -> BTreeSet<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let diff_id = l["annotations"]["containerd.io/uncompressed"].as_str();
            assert!(diff_id.is_some_and(|d| d.starts_with("sha256:")), "{l}");
            diff_id.unwrap().to_string()
        })
        .collect()
}

fn inspect_raw(reference: &str) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_second_machine_builds_from_the_registry_cache_downloading_only_the_final_layers() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let a = machine(DOCKERFILE, "bravo\n");
    let cache = format!("{}/app-cache:1", registry.host);
    let run = a
        .sh(&format!(
            "img-build -t app:1 --cache-to type=registry,ref={cache} ctx"
        ))
        .ok();
    assert!(
        run.stderr.contains("Exported the cache to"),
        "{}",
        run.stderr
    );

    // BuildKit's image-manifest form, as skopeo reads it.
    let manifest = inspect_raw(&cache);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.buildkit.cacheconfig.v0"
    );
    let layers = manifest["layers"].as_array().unwrap();
    for l in layers {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{l}"
        );
    }
    // The store keeps the layers A made uncompressed; the cache has them
    // gzipped, as BuildKit exports them: the same tars.
    let final_layers: BTreeSet<String> = layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        uncompressed_digests(&manifest),
        a.diff_ids("app:1").into_iter().collect::<BTreeSet<_>>(),
        "min mode: the final image's layers"
    );

    // Machine B: an empty store but for the base, through a counting proxy.
    let b = machine(DOCKERFILE, "bravo\n");
    let proxy = HttpProxy::start(&registry.host, Vec::new());
    let run = b
        .sh(&format!(
            "img-build -t app:1 --cache-from type=registry,ref={}/app-cache:1 ctx",
            proxy.host
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert_eq!(
        count(&run.stderr, " ---> Using cache from "),
        5,
        "{}",
        run.stderr
    );
    assert_eq!(a.id("app:1"), b.id("app:1"), "the same image ID");
    let base: BTreeSet<String> = b.layers("base").into_iter().collect();
    let needed: BTreeSet<String> = final_layers.difference(&base).cloned().collect();
    let gets = blob_gets(&proxy);
    let got: BTreeSet<String> = gets.iter().cloned().collect();
    assert_eq!(gets.len(), got.len(), "no blob twice: {gets:?}");
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    let expected: BTreeSet<String> = needed.iter().cloned().chain([config]).collect();
    assert_eq!(got, expected, "the cache config and the layers B lacked");
    assert_eq!(
        b.sh("img-run --rm app:1").ok().stdout,
        "bravo\n",
        "the image works"
    );
    b.check_store();

    // Again on B: the hits are in its own cache now, nothing is fetched.
    let before = proxy.requests("GET", "/blobs/").len();
    let run = b
        .sh(&format!(
            "img-build -t app:1 --cache-from {}/app-cache:1 ctx",
            proxy.host
        ))
        .ok();
    assert_eq!(
        count(&run.stderr, " ---> Using cache\n"),
        5,
        "{}",
        run.stderr
    );
    assert_eq!(proxy.requests("GET", "/blobs/").len(), before);
}

#[test]
fn a_changed_file_rebuilds_exactly_the_steps_after_it_and_says_why() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let a = machine(DOCKERFILE, "bravo\n");
    let cache = format!("{}/app-cache:1", registry.host);
    a.sh(&format!(
        "img-build -q --cache-to type=registry,ref={cache} ctx"
    ))
    .ok();
    let b = machine(DOCKERFILE, "bravo\n");
    b.write("ctx/a.txt", "changed\n");
    let run = b
        .sh(&format!("img-build -t app:2 --cache-from {cache} ctx"))
        .ok();
    let steps: Vec<&str> = run.stderr.split("Step ").skip(1).collect();
    assert!(steps[1].contains("Using cache from"), "ENV: {}", steps[1]);
    assert!(
        steps[2].contains("Cache miss: the files it copies changed"),
        "COPY a.txt: {}",
        steps[2]
    );
    for later in &steps[3..] {
        assert!(
            later.contains("Cache miss: the step before it was made anew"),
            "{later}"
        );
    }
    assert_eq!(count(&run.stderr, "Running in"), 1, "{}", run.stderr);
    assert_eq!(
        b.sh("img-run --rm app:2 sh -c 'cat /app/twice.txt'")
            .ok()
            .stdout,
        "changed\nchanged\n"
    );
    // A different instruction is named as such.
    b.write(
        "ctx/Dockerfile",
        &DOCKERFILE.replace("ENV APP=/app", "ENV APP=/srv"),
    );
    let run = b.sh(&format!("img-build --cache-from {cache} ctx")).ok();
    assert!(
        run.stderr
            .contains("Cache miss: the instruction changed (the cache has `ENV APP=/app`)"),
        "{}",
        run.stderr
    );
    b.check_store();
}

#[test]
fn exports_send_only_what_changed_and_reference_only_this_build() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let a = machine(DOCKERFILE, "bravo\n");
    let cache = format!("{}/app-cache:1", registry.host);
    let export = format!("img-build -t app:1 --cache-to type=registry,ref={cache} ctx");
    a.sh(&export).ok();
    let uploads = || registry.img_requests("PUT", "/blobs/uploads/");
    let first = uploads();
    assert!(first >= 4, "the layers B lacks and the config: {first}");

    // The same build again: nothing is sent, the manifest is the same.
    let manifest = inspect_raw(&cache);
    let run = a.sh(&export).ok();
    assert!(run.stderr.contains("(0 sent,"), "{}", run.stderr);
    assert_eq!(uploads(), first);
    assert_eq!(inspect_raw(&cache), manifest);

    // One step changed (the last layer): its layer and the config.
    a.write("ctx/b.txt", "charlie\n");
    let run = a.sh(&export).ok();
    assert!(run.stderr.contains("(2 sent,"), "{}", run.stderr);
    assert_eq!(uploads(), first + 2);
    let now = uncompressed_digests(&inspect_raw(&cache));
    let final_layers: BTreeSet<String> = a.diff_ids("app:1").into_iter().collect();
    assert_eq!(now, final_layers, "the old layer is no longer referenced");

    // Another repository of the same registry: what the cache read holds
    // is mounted from its repository, nothing is sent.
    let mounts = || registry.img_requests("POST", "mount=");
    let before = mounts();
    let other = format!("{}/other-cache:1", registry.host);
    let run = a
        .sh(&format!(
            "img-build -t app:1 --cache-from {cache} --cache-to type=registry,ref={other} ctx"
        ))
        .ok();
    assert!(
        run.stderr.contains("(0 sent, 0 already there, "),
        "{}",
        run.stderr
    );
    assert_eq!(uploads(), first + 2, "{}", run.stderr);
    let blobs = now.len() + 1;
    assert!(
        run.stderr.contains(&format!(" {blobs} mounted)")),
        "the layers and the config: {}",
        run.stderr
    );
    assert_eq!(mounts(), before + blobs);
    assert_eq!(inspect_raw(&other), inspect_raw(&cache), "the same cache");
}

#[test]
fn mode_max_shares_every_stage_and_min_only_the_final_image() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let a = machine(TWO_STAGES, "bravo\n");
    let (min, max) = (
        format!("{}/two-cache:min", registry.host),
        format!("{}/two-cache:max", registry.host),
    );
    a.sh(&format!(
        "img-build -t app:1 --cache-to type=registry,ref={min} --cache-to type=registry,ref={max},mode=max ctx"
    ))
    .ok();

    // The final image from either: the builder stage is passed by its
    // keys, its layers are never fetched, even where the cache has them.
    for (tag, cache) in [("min", &min), ("max", &max)] {
        let b = machine(TWO_STAGES, "bravo\n");
        let proxy = HttpProxy::start(&registry.host, Vec::new());
        let run = b
            .sh(&format!(
                "img-build -t app:1 --cache-from {}/two-cache:{tag} ctx",
                proxy.host
            ))
            .ok();
        assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
        assert_eq!(a.id("app:1"), b.id("app:1"));
        let final_layers: BTreeSet<String> = b.layers("app:1").into_iter().collect();
        let config = inspect_raw(cache)["config"]["digest"].clone();
        let gets = blob_gets(&proxy);
        assert!(gets.len() > 1, "{gets:?}");
        for got in gets {
            assert!(
                final_layers.contains(&got) || config == got.as_str(),
                "{tag}: {got} is not the final image's"
            );
        }
        b.check_store();
    }

    // Another target from max: every step from the cache.
    let c = machine(TWO_STAGES, "bravo\n");
    let run = c
        .sh(&format!(
            "img-build -t b:1 --target builder --cache-from {max} ctx"
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert_eq!(count(&run.stderr, "Using cache from"), 2, "{}", run.stderr);
    assert_eq!(
        c.sh("img-run --rm b:1 sh -c 'cat /built.txt'").ok().stdout,
        "alpha\nalpha\n"
    );

    // The same from min: the builder's layers are in no cache; it is made.
    let d = machine(TWO_STAGES, "bravo\n");
    let run = d
        .sh(&format!(
            "img-build -t b:1 --target builder --cache-from {min} ctx"
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("mode=max keeps its layers"),
        "{}",
        run.stderr
    );
    assert_eq!(
        d.sh("img-run --rm b:1 sh -c 'cat /built.txt'").ok().stdout,
        "alpha\nalpha\n"
    );
    for env in [&c, &d] {
        env.check_store();
    }
}

#[test]
fn a_cache_that_cannot_be_read_is_a_warning_and_the_build_goes_on() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let env = machine(DOCKERFILE, "bravo\n");

    // A registry that is not running.
    let stopped = Registry::open();
    let gone = stopped.host.clone();
    drop(stopped);
    let run = env
        .sh(&format!(
            "img-build -t app:1 --cache-from {gone}/app-cache:1 ctx"
        ))
        .ok();
    assert!(
        run.stderr.contains(&format!(
            "WARNING: cache {gone}/app-cache:1 could not be read"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(count(&run.stderr, "Running in"), 1, "{}", run.stderr);

    // A tag that does not exist (yet).
    let run = env
        .sh(&format!(
            "img-build -q --cache-from {}/nothing:1 ctx",
            registry.host
        ))
        .ok();
    assert!(run.stderr.contains("WARNING: cache"), "{}", run.stderr);

    // A corrupted cache manifest: its config names layers it leaves out.
    let cache = format!("{}/app-cache:1", registry.host);
    env.sh(&format!(
        "img-build -q --cache-to type=registry,ref={cache} ctx"
    ))
    .ok();
    let mut manifest = inspect_raw(&cache);
    manifest["layers"].as_array_mut().unwrap().truncate(1);
    let put = std::process::Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
        .arg("--data-binary")
        .arg(manifest.to_string())
        .arg(format!("http://{}/v2/app-cache/manifests/1", registry.host))
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let cold = machine(DOCKERFILE, "bravo\n");
    let index = cold.index_bytes();
    let run = cold
        .sh(&format!("img-build -t app:1 --cache-from {cache} ctx"))
        .ok();
    assert!(run.stderr.contains("is malformed"), "{}", run.stderr);
    assert!(run.stderr.contains("building without it"), "{}", run.stderr);
    assert_eq!(
        count(&run.stderr, "Running in"),
        1,
        "a cold build: {}",
        run.stderr
    );
    assert_ne!(cold.index_bytes(), index);
    assert_eq!(cold.sh("img-run --rm app:1").ok().stdout, "bravo\n");
    cold.check_store();
    env.check_store();
}

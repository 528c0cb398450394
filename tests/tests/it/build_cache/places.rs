//! Where a cache lives besides a registry repository (an OCI layout
//! directory, the pushed image's own config), how it is reached as pulls and
//! pushes reach a registry (credentials, TLS, registries.conf mirrors), and
//! the cache mounts it may carry.

use super::*;

#[test]
fn a_local_directory_cache_is_an_oci_layout_that_keeps_only_what_it_uses() {
    if !need(PEERS) {
        return;
    }
    let a = machine(DOCKERFILE, "bravo\n");
    let dir = a.path("ci-cache");
    let export = format!(
        "img-build -t app:1 --cache-to type=local,dest={},compression=zstd ctx",
        dir.display()
    );
    a.sh(&export).ok();
    let listed = a
        .sh(&format!("umoci ls --layout {}", dir.display()))
        .ok()
        .stdout;
    assert_eq!(listed.trim(), "latest");
    let manifest: Value = {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        let path = dir.join("blobs/sha256").join(&digest[7..]);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "compression=zstd: {layer}"
        );
    }
    let layer_count = manifest["layers"].as_array().unwrap().len();
    assert_eq!(blobs_in(&dir), layer_count + 2, "layers, config, manifest");

    // Machine B reads the directory.
    let b = machine(DOCKERFILE, "bravo\n");
    std::fs::rename(&dir, b.path("ci-cache")).unwrap();
    let run = b
        .sh("img-build -t app:1 --cache-from type=local,src=ci-cache ctx")
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert_eq!(b.sh("img-run --rm app:1").ok().stdout, "bravo\n");

    // A changed step, exported again: what the old cache alone used goes.
    b.write("ctx/b.txt", "charlie\n");
    let run = b
        .sh("img-build --cache-from type=local,src=ci-cache --cache-to type=local,dest=ci-cache,compression=zstd ctx")
        .ok();
    assert!(
        run.stderr.contains("3 unused blobs removed"),
        "{}",
        run.stderr
    );
    assert_eq!(blobs_in(&b.path("ci-cache")), layer_count + 2);
    b.check_store();
}

fn blobs_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blobs/sha256")).unwrap().count()
}

#[test]
fn an_inline_cache_travels_in_the_pushed_image() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let a = machine(DOCKERFILE, "bravo\n");
    let image = format!("{}/app:1", registry.host);
    a.sh(&format!(
        "img-build -t {image} --cache-to type=inline ctx && img-push -q {image}"
    ))
    .ok();
    let config = {
        let store = img_store::Store::open(a.store()).unwrap();
        let found = store.resolve(&image).unwrap();
        found.target.host_image().unwrap().config_json.clone()
    };
    assert!(
        config["moby.buildkit.cache.v0"].is_string(),
        "BuildKit's inline key: {config}"
    );
    let b = machine(DOCKERFILE, "bravo\n");
    let run = b
        .sh(&format!(
            "img-build -t {image} --cache-from {image} --cache-to type=inline ctx"
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert_eq!(count(&run.stderr, "Using cache from"), 5, "{}", run.stderr);
    assert_eq!(
        a.id(&image),
        b.id(&image),
        "the same image, inline cache and all"
    );
    b.check_store();
}

#[test]
fn caches_need_the_registry_credentials_as_pulls_and_pushes_do() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::start(Auth::Htpasswd, false);
    let creds = format!("--creds {USER}:{PASSWORD}");
    let cache = format!("{}/app-cache:1", registry.host);
    let a = machine(DOCKERFILE, "bravo\n");
    let run = a.sh(&format!(
        "img-build -q --cache-to type=registry,ref={cache} ctx"
    ));
    assert_eq!(run.code, 1, "no credentials, no export: {}", run.stderr);
    assert!(
        run.stderr.contains("(the image was built)"),
        "{}",
        run.stderr
    );
    a.sh(&format!(
        "img-build -q {creds} --cache-to type=registry,ref={cache} ctx"
    ))
    .ok();
    let b = machine(DOCKERFILE, "bravo\n");
    let run = b.sh(&format!("img-build --cache-from {cache} ctx")).ok();
    assert!(run.stderr.contains("WARNING: cache"), "{}", run.stderr);
    assert_eq!(count(&run.stderr, "Running in"), 1, "{}", run.stderr);
    let c = machine(DOCKERFILE, "bravo\n");
    let run = c
        .sh(&format!("img-build {creds} --cache-from {cache} ctx"))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
}

#[test]
fn caches_verify_tls_as_pulls_and_pushes_do() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::start(Auth::Open, true);
    let certs = format!("--cert-dir {}", registry.ca_dir.as_ref().unwrap().display());
    let cache = format!("{}/app-cache:1", registry.host);
    let a = machine(DOCKERFILE, "bravo\n");
    let run = a.sh(&format!(
        "img-build -q --cache-to type=registry,ref={cache} ctx"
    ));
    assert_eq!(run.code, 1, "an unknown CA, no export: {}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    a.sh(&format!(
        "img-build -q -t app:1 {certs} --cache-to type=registry,ref={cache} ctx"
    ))
    .ok();
    let b = machine(DOCKERFILE, "bravo\n");
    let run = b.sh(&format!("img-build --cache-from {cache} ctx")).ok();
    assert!(run.stderr.contains("WARNING: cache"), "{}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    assert_eq!(count(&run.stderr, "Running in"), 1, "{}", run.stderr);
    let c = machine(DOCKERFILE, "bravo\n");
    let run = c
        .sh(&format!(
            "img-build -t app:1 {certs} --cache-from {cache} ctx"
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert_eq!(a.id("app:1"), c.id("app:1"));
    c.check_store();
}

#[test]
fn caches_are_read_through_registries_conf_mirrors() {
    if !need(PEERS) {
        return;
    }
    // The cache's own registry is down; its mirror holds the cache.
    let mirror = Registry::open();
    let down = format!("127.0.0.1:{}", free_port());
    let a = machine(DOCKERFILE, "bravo\n");
    a.sh(&format!(
        "img-build -q -t app:1 --cache-to type=registry,ref={}/app-cache:1 ctx",
        mirror.host
    ))
    .ok();
    let b = machine(DOCKERFILE, "bravo\n");
    let conf = b.path("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{down}\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
            mirror.host
        ),
    )
    .unwrap();
    std::fs::create_dir_all(b.path("home")).unwrap();
    let gets = mirror.img_requests("GET", "/blobs/");
    let run = b
        .sh(&format!(
            "export CONTAINERS_REGISTRIES_CONF={} HOME={}\nimg-build -t app:1 --cache-from {down}/app-cache:1 ctx",
            conf.display(),
            b.path("home").display()
        ))
        .ok();
    assert_eq!(count(&run.stderr, "Running in"), 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("Using cache from {down}/app-cache:1")),
        "{}",
        run.stderr
    );
    assert!(
        mirror.img_requests("GET", "/blobs/") > gets,
        "{}",
        mirror.log()
    );
    assert_eq!(a.id("app:1"), b.id("app:1"));
    b.check_store();
}

#[test]
fn cache_mounts_travel_when_asked() {
    if !need(PEERS) {
        return;
    }
    let registry = Registry::open();
    let cache = format!("{}/mounts-cache:1", registry.host);
    let fill = "FROM base\nRUN --mount=type=cache,id=deps,target=/deps sh -c 'echo fetched > /deps/lib.txt'\n";
    let a = machine(fill, "");
    a.sh(&format!(
        "img-build -q --cache-to type=registry,ref={cache},cache-mounts=true ctx"
    ))
    .ok();
    let read = "FROM base\nRUN --mount=type=cache,id=deps,target=/deps sh -c 'cat /deps/lib.txt > /seen.txt 2>/dev/null || echo empty > /seen.txt'\n";
    for (option, seen) in [("", "empty\n"), (",cache-mounts=true", "fetched\n")] {
        let b = machine(read, "");
        let run = b
            .sh(&format!(
                "img-build -t seen:1 --cache-from type=registry,ref={cache}{option} ctx"
            ))
            .ok();
        assert_eq!(
            b.sh("img-run --rm seen:1 sh -c 'cat /seen.txt'")
                .ok()
                .stdout,
            seen,
            "{option}: {}",
            run.stderr
        );
        b.check_store();
    }
}

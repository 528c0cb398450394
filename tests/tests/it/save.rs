use img_tests::archive::{digests, podman, tar_paths};
use img_tests::{check_layout, need, peers, Env};

fn env_with_images() -> Option<Env> {
    if !need(peers::FIXTURES) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "app:1");
    env.seed("other", "other:2");
    Some(env)
}

#[test]
fn round_trip_keeps_manifest_and_config_digests() {
    let Some(env) = env_with_images() else { return };
    for format in ["docker", "oci"] {
        let other = env.path(&format!("other-{format}"));
        env.sh(&format!(
            "img-save --format {format} busybox app:1 -o a-{format}.tar && img-load --root {} -i a-{format}.tar",
            other.display()
        ))
        .ok();
        for name in ["busybox", "app:1"] {
            assert_eq!(
                digests(&env.store(), name),
                digests(&other, name),
                "{format}: {name}"
            );
        }
        check_layout(&other);
    }
}

#[test]
fn shared_blobs_are_written_once_and_output_is_reproducible() {
    let Some(env) = env_with_images() else { return };
    env.sh("img-save busybox app:1 > a.tar && img-save busybox app:1 > b.tar && cmp a.tar b.tar")
        .ok();
    // The same bytes whichever way they leave: the kernel's copy into a
    // file (-o) and into a pipe, and the buffered copy where the kernel
    // cannot (a file opened for appending).
    env.sh("img-save -o c.tar busybox app:1 && cmp a.tar c.tar \
         && img-save busybox app:1 | cat > d.tar && cmp a.tar d.tar \
         && echo -n > e.tar && img-save busybox app:1 >> e.tar && cmp a.tar e.tar")
        .ok();
    let paths = tar_paths(&env.path("a.tar"));
    let blobs: Vec<&String> = paths
        .iter()
        .filter(|p| p.starts_with("blobs/sha256/") && p.len() > 14)
        .collect();
    let mut unique = blobs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        blobs.len(),
        unique.len(),
        "a blob was written twice: {paths:?}"
    );
    // busybox and app:1 share their base layer: 2 manifests, 2 configs and
    // fewer layers than the two images list together.
    let store = img_store::Store::open(env.store()).unwrap();
    let mut listed = 0;
    let mut distinct = std::collections::HashSet::new();
    for name in ["busybox", "app:1"] {
        let found = store.resolve(name).unwrap();
        let image = found.target.host_image().unwrap();
        listed += 2 + image.manifest.layers().len();
        distinct.insert(image.descriptor.digest().clone());
        distinct.insert(image.manifest.config().digest().clone());
        for l in image.manifest.layers() {
            distinct.insert(l.digest().clone());
        }
    }
    assert_eq!(blobs.len(), distinct.len());
    assert!(blobs.len() < listed, "shared layers are stored once");
    for file in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(paths.iter().any(|p| p == file), "{file} missing: {paths:?}");
    }
    let oci = env.sh("img-save --format oci busybox | tar -t").ok();
    assert!(!oci.stdout.contains("manifest.json"), "{}", oci.stdout);
}

#[test]
fn skopeo_reads_what_img_saves() {
    let Some(env) = env_with_images() else { return };
    let (manifest, id) = digests(&env.store(), "busybox");
    env.sh("img-save busybox > d.tar && img-save --format oci busybox > o.tar")
        .ok();
    // skopeo's own view of the archive: the same config bytes (image ID).
    let config = env
        .sh("skopeo inspect --config --raw docker-archive:d.tar | sha256sum")
        .ok();
    assert!(
        config.stdout.starts_with(id.trim_start_matches("sha256:")),
        "{}",
        config.stdout
    );
    let inspect = env.sh("skopeo inspect docker-archive:d.tar").ok();
    assert!(
        inspect.stdout.contains("\"Architecture\""),
        "{}",
        inspect.stdout
    );
    // copies out of the OCI half of both formats keep the image ID and the
    // manifest digest; skopeo rewrites configs from docker-archive: (as it
    // does for its own archives), keeping their content.
    env.sh("skopeo copy -q docker-archive:d.tar oci:from-docker:x && skopeo copy -q oci-archive:o.tar oci:from-oci:x && skopeo copy -q oci-archive:d.tar oci:from-docker-oci:x")
        .ok();
    let original: serde_json::Value = serde_json::from_str(
        &env.sh("skopeo inspect --config --raw oci:$FIXTURES:base")
            .ok()
            .stdout,
    )
    .unwrap();
    let copied: serde_json::Value = serde_json::from_str(
        &env.sh("skopeo inspect --config --raw oci:from-docker:x")
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(original, copied);
    for dir in ["from-oci", "from-docker-oci"] {
        let run = env
            .sh(&format!(
                "skopeo inspect --config --raw oci:{dir}:x | sha256sum"
            ))
            .ok();
        assert!(
            run.stdout.starts_with(id.trim_start_matches("sha256:")),
            "{dir}: {}",
            run.stdout
        );
    }
    let raw = env
        .sh("skopeo inspect --raw oci-archive:o.tar | sha256sum")
        .ok();
    assert!(
        raw.stdout
            .starts_with(manifest.trim_start_matches("sha256:")),
        "{}",
        raw.stdout
    );
}

#[test]
fn podman_loads_what_img_saves() {
    if !need(&["podman"]) {
        return;
    }
    let Some(env) = env_with_images() else { return };
    let (_, id) = digests(&env.store(), "app:1");
    let podman = podman(&env);
    // podman reads one image from an OCI archive, several from Docker's
    for (format, images) in [("docker", "app:1 other:2"), ("oci", "app:1")] {
        env.sh(&format!(
            "img-save --format {format} {images} > p-{format}.tar && {podman} load -q -i p-{format}.tar"
        ))
        .ok();
    }
    let run = env
        .sh(&format!(
            "{podman} images --no-trunc --format '{{{{.ID}}}} {{{{.Repository}}}}:{{{{.Tag}}}}'"
        ))
        .ok();
    assert!(
        run.stdout.contains(id.trim_start_matches("sha256:")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("docker.io/library/app:1"),
        "{}",
        run.stdout
    );
}

#[test]
fn pipes_and_compressed_pipes() {
    let Some(env) = env_with_images() else { return };
    let want = digests(&env.store(), "app:1");
    for (i, middle) in [
        "",
        "| zstd -q | zstd -dq",
        "| gzip | gzip -d",
        "| zstd -q",
        "| gzip -1",
    ]
    .iter()
    .enumerate()
    {
        let other = env.path(&format!("pipe-{i}"));
        let run = env
            .sh(&format!(
                "img-save app:1 {middle} | img-load --root {}",
                other.display()
            ))
            .ok();
        assert_eq!(run.records().len(), 1, "{middle}");
        assert!(run.stderr.contains("Loaded image: app:1"), "{}", run.stderr);
        assert_eq!(digests(&other, "app:1"), want, "{middle}");
    }
}

#[test]
fn records_ids_and_repositories_select_images() {
    let Some(env) = env_with_images() else { return };
    env.sh("img-tag busybox busybox:second >/dev/null").ok();
    // a repository name alone saves every tag of it, like docker save
    let run = env.sh("img-save busybox | tar -xO manifest.json").ok();
    assert!(
        run.stdout.contains("\"docker.io/library/busybox:latest\"")
            && run.stdout.contains("\"docker.io/library/busybox:second\""),
        "{}",
        run.stdout
    );
    // records on stdin
    let run = env
        .sh("img-tag app:1 piped:1 | img-save | tar -xO manifest.json")
        .ok();
    assert!(
        run.stdout.contains("\"docker.io/library/piped:1\""),
        "{}",
        run.stdout
    );
    // by ID: no name, and img-load says so
    let (_, id) = digests(&env.store(), "other:2");
    let other = env.path("by-id");
    let run = env
        .sh(&format!(
            "img-save {} | img-load --root {}",
            &id[7..19],
            other.display()
        ))
        .ok();
    assert!(
        run.stderr.contains(&format!("Loaded image ID: {id}")),
        "{}",
        run.stderr
    );
    let records = run.records();
    assert!(records[0].get("annotations").is_none(), "{records:?}");
}

#[test]
fn errors_write_nothing() {
    let Some(env) = env_with_images() else { return };
    let run = env.sh("img-save -o out.tar busybox nosuch:1").code(1);
    assert!(
        run.stderr.contains("No such image: nosuch:1"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out") || n.starts_with(".img-partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // the error names the file asked for, not the temporary one beside it
    let run = env.sh("img-save -o missing-dir/x.tar busybox").code(1);
    assert_eq!(
        run.stderr,
        "img-save: error: writing missing-dir/x.tar: No such file or directory (os error 2)\n"
    );
    env.sh("img-save 'Bad Name'").code(2);
    env.sh("img-save --format zip busybox > x.tar").code(2);
    // a terminal on stdout is refused
    if need(&["script"]) {
        let run = env.sh("script -qec 'img-save busybox' /dev/null").code(1);
        assert!(
            run.stdout
                .contains("refusing to write an image archive to a terminal"),
            "{}",
            run.stdout
        );
    }
    // a store missing a layer fails before writing
    let store = img_store::Store::open(env.store()).unwrap();
    let image = store.resolve("other:2").unwrap();
    let layer = image.target.host_image().unwrap().manifest.layers()[0]
        .digest()
        .clone();
    std::fs::remove_file(store.blob_path(&layer)).unwrap();
    let run = env.sh("img-save other:2 > broken.tar").code(1);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    assert_eq!(std::fs::metadata(env.path("broken.tar")).unwrap().len(), 0);
}

/// A multi-platform index whose store holds only some platforms: the
/// archive carries the index and the platforms present, and loads back as
/// the same index.
#[test]
fn multi_platform_index_keeps_what_the_store_has() {
    let Some(env) = env_with_images() else { return };
    let store = img_store::Store::open(env.store()).unwrap();
    let base = store.resolve("busybox").unwrap();
    let present = base.target.descriptor();
    let absent = img_core::digest::of_bytes(b"a manifest this store never pulled");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": present.media_type().to_string(), "digest": present.digest().to_string(),
             "size": present.size(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": absent.to_string(),
             "size": 500, "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let (digest, size) = store.write_blob(&bytes).unwrap();
    let descriptor = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageIndex,
        size,
        digest.clone(),
    );
    let name = img_core::reference::Reference::parse("multi:1").unwrap();
    store
        .update_index(|i| {
            i.set_name(&name, &descriptor);
            Ok(())
        })
        .unwrap();
    let other = env.path("multi-other");
    let run = env
        .sh(&format!(
            "img-save multi:1 > m.tar && img-load --root {} -i m.tar",
            other.display()
        ))
        .ok();
    assert_eq!(run.records()[0]["digest"], digest.to_string());
    let paths = tar_paths(&env.path("m.tar"));
    assert!(paths.contains(&format!("blobs/sha256/{}", digest.digest())));
    assert!(!paths.contains(&format!("blobs/sha256/{}", absent.digest())));
    assert_eq!(digests(&other, "multi:1").0, digest.to_string());
    check_layout(&other);
}

use img_tests::archive::{digests, podman, rewrite_tar, snapshot};
use img_tests::{need, peers, Env};

/// An environment whose store holds `base` as busybox, with the fixture's
/// manifest digest and image ID.
fn env_with_busybox() -> Option<(Env, (String, String))> {
    if !need(peers::FIXTURES) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "app:1");
    let want = digests(&env.store(), "busybox");
    Some((env, want))
}

#[test]
fn loads_skopeo_archives_both_formats() {
    let Some((env, (manifest, id))) = env_with_busybox() else {
        return;
    };
    env.sh("skopeo copy -q oci:$FIXTURES:base docker-archive:sd.tar:busybox:1 && skopeo copy -q oci:$FIXTURES:base oci-archive:so.tar:busybox:2")
        .ok();
    // the legacy archive has layer.tar symlinks and no manifests
    let listing = env.sh("tar -tvf sd.tar").ok();
    assert!(
        listing.stdout.contains("layer.tar ->"),
        "{}",
        listing.stdout
    );
    let run = env.sh("img-load -i sd.tar && img-load < so.tar").ok();
    assert!(
        run.stderr.contains("Loaded image: busybox:1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Loaded image: busybox:2"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records().len(), 2);
    // the image ID survives both; the OCI archive keeps the manifest too
    assert_eq!(digests(&env.store(), "busybox:1").1, id);
    assert_eq!(digests(&env.store(), "busybox:2"), (manifest, id));
    env.check_store();
    // what img loaded from the legacy archive is itself readable by skopeo
    env.sh("skopeo inspect oci:$STORE:docker.io/library/busybox:1 >/dev/null")
        .ok();
}

#[test]
fn loads_podman_archives() {
    if !need(&["podman"]) {
        return;
    }
    let Some((env, (_, id))) = env_with_busybox() else {
        return;
    };
    let podman = podman(&env);
    env.sh(&format!(
        "skopeo copy -q oci:$FIXTURES:derived docker-archive:in.tar:pod/app:3 && {podman} load -q -i in.tar && {podman} save -q -o pd.tar pod/app:3 && {podman} save -q --format oci-archive -o po.tar pod/app:3"
    ))
    .ok();
    let (_, derived_id) = digests(&env.store(), "app:1");
    let run = env.sh("img-load -i pd.tar").ok();
    assert!(
        run.stderr.contains("Loaded image: pod/app:3"),
        "{}",
        run.stderr
    );
    assert_eq!(digests(&env.store(), "pod/app:3").1, derived_id);
    let other = env.path("other");
    env.sh(&format!("img-load --root {} -i po.tar", other.display()))
        .ok();
    img_tests::check_layout(&other);
    env.check_store();
    assert_ne!(id, derived_id);
}

#[test]
fn compressed_archives_are_detected_by_content() {
    let Some((env, want)) = env_with_busybox() else {
        return;
    };
    env.sh("img-save busybox > a.tar && gzip -c a.tar > a.dat && zstd -q -c a.tar > b.dat")
        .ok();
    for (i, file) in ["a.dat", "b.dat"].iter().enumerate() {
        let other = env.path(&format!("o{i}"));
        env.sh(&format!("img-load --root {} -i {file}", other.display()))
            .ok();
        assert_eq!(digests(&other, "busybox"), want);
    }
}

#[test]
fn a_name_moves_like_docker_load() {
    let Some((env, _)) = env_with_busybox() else {
        return;
    };
    let (_, app_id) = digests(&env.store(), "app:1");
    env.sh("img-save app:1 > app.tar && img-tag busybox app:1")
        .ok();
    let run = env.sh("img-load -i app.tar").ok();
    assert!(
        run.stderr
            .contains("The image app:1 already exists, renaming the old one with ID"),
        "{}",
        run.stderr
    );
    assert_eq!(digests(&env.store(), "app:1").1, app_id);
    // loading the same archive again changes nothing
    let before = snapshot(&env.store());
    env.sh("img-load -q -i app.tar").ok();
    assert_eq!(snapshot(&env.store()), before);
    env.check_store();
}

/// Rewrites one entry of a tar (see `rewrite_tar`).
type Change<'a> =
    dyn FnMut(&str, tar::Header, Vec<u8>) -> Option<(String, tar::Header, Vec<u8>)> + 'a;

/// Every broken archive exits 2 and leaves the store as it was.
#[test]
fn broken_archives_change_nothing() {
    let Some((env, _)) = env_with_busybox() else {
        return;
    };
    env.sh("img-save app:1 > good.tar && skopeo copy -q oci:$FIXTURES:derived docker-archive:legacy.tar:x:1")
        .ok();
    // a fresh store that already holds busybox: the broken archives would
    // add app:1 (which shares busybox's layers)
    let target = env.path("target");
    env.sh(&format!(
        "img-save busybox | img-load -q --root {}",
        target.display()
    ))
    .ok();
    let before = snapshot(&target);
    let good = std::fs::read(env.path("good.tar")).unwrap();
    let store = img_store::Store::open(env.store()).unwrap();
    let app = store.resolve("app:1").unwrap();
    let image = app.target.host_image().unwrap();
    let top_layer = image
        .manifest
        .layers()
        .last()
        .unwrap()
        .digest()
        .digest()
        .to_string();
    let config = image.manifest.config().digest().digest().to_string();

    let mut broken: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [
        100,
        512,
        1024,
        1500,
        good.len() / 3,
        good.len() / 2,
        good.len() - 3000,
    ] {
        broken.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    let mut rewritten = |name: &str, src: &str, change: &mut Change| {
        let dst = env.path(&format!("{}.tar", name.replace(' ', "-")));
        rewrite_tar(&env.path(src), &dst, change);
        broken.push((name.to_string(), std::fs::read(&dst).unwrap()));
    };
    rewritten("digest lie", "good.tar", &mut |p, h, mut d| {
        if p.ends_with(&top_layer) {
            let last = d.len() - 1;
            d[last] ^= 0xff;
        }
        Some((p.to_string(), h, d))
    });
    rewritten("missing layer", "good.tar", &mut |p, h, d| {
        (!p.ends_with(&top_layer)).then(|| (p.to_string(), h, d))
    });
    rewritten("missing config", "good.tar", &mut |p, h, d| {
        (!p.ends_with(&config)).then(|| (p.to_string(), h, d))
    });
    rewritten("path traversal", "good.tar", &mut |p, h, d| {
        let p = if p == "oci-layout" {
            "../../oci-layout".to_string()
        } else {
            p.to_string()
        };
        Some((p, h, d))
    });
    rewritten("bad manifest.json", "good.tar", &mut |p, h, d| {
        let d = if p == "manifest.json" {
            b"[{\"Config\": 5}]".to_vec()
        } else {
            d
        };
        Some((p.to_string(), h, d))
    });
    rewritten(
        "index names an absent manifest",
        "good.tar",
        &mut |p, h, d| {
            let d = if p == "index.json" {
                String::from_utf8(d)
                    .unwrap()
                    .replace(&image.descriptor.digest().digest()[..8], "00000000")
                    .into_bytes()
            } else {
                d
            };
            Some((p.to_string(), h, d))
        },
    );
    rewritten("legacy diff_id lie", "legacy.tar", &mut |p, h, mut d| {
        if p.ends_with(".tar") && !d.is_empty() {
            d[600] ^= 0x01;
        }
        Some((p.to_string(), h, d))
    });
    // Two readings of one config (a JSON value takes the last `rootfs`,
    // the image config the first): refused, not stored for img-fsck to
    // call damaged (found by `just fuzz`'s archive target).
    rewritten(
        "legacy config with two rootfs",
        "legacy.tar",
        &mut |p, h, d| {
            let d = if p.ends_with(".json") && !p.contains('/') && p != "manifest.json" {
                let mut twice = b"{\"rootfs\":{},".to_vec();
                twice.extend_from_slice(&d[1..]);
                twice
            } else {
                d
            };
            Some((p.to_string(), h, d))
        },
    );
    rewritten("legacy symlink escape", "legacy.tar", &mut |p, mut h, d| {
        if h.entry_type() == tar::EntryType::Symlink {
            h.set_link_name("../../../etc/passwd").unwrap();
        }
        Some((p.to_string(), h, d))
    });
    // a header promising 10 GB, then nothing
    let mut header = tar::Header::new_ustar();
    header
        .set_path(format!("blobs/sha256/{top_layer}"))
        .unwrap();
    header.set_size(10 << 30);
    header.set_cksum();
    broken.push(("10 GB header".into(), header.as_bytes().to_vec()));
    broken.push(("empty".into(), Vec::new()));
    broken.push((
        "not a tar".into(),
        b"hello, this is not an archive\n".repeat(40),
    ));
    env.sh("mkdir -p r/etc && echo x > r/etc/hostname && tar -C r -cf rootfs.tar .")
        .ok();
    broken.push((
        "a root filesystem".into(),
        std::fs::read(env.path("rootfs.tar")).unwrap(),
    ));

    for (i, (name, bytes)) in broken.iter().enumerate() {
        let file = env.path(&format!("broken-{i}.tar"));
        std::fs::write(&file, bytes).unwrap();
        // A file is read out of order, several entries at once; a pipe in
        // order (img-load stops reading at the first error: cat may then
        // die of SIGPIPE, and img-load's status is the pipeline's).
        let (file, root) = (file.display(), target.display());
        for (how, command) in [
            ("file", format!("img-load --root {root} < {file}")),
            ("pipe", format!("cat {file} | img-load --root {root}")),
        ] {
            let run = env.sh(&command);
            assert_eq!(run.code, 2, "{name} ({how}): {}", run.stderr);
            assert!(
                run.stderr.starts_with("img-load: error: "),
                "{name} ({how}): {}",
                run.stderr
            );
            assert_eq!(
                run.stderr.lines().count(),
                1,
                "{name} ({how}): {}",
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{name} ({how})");
            assert_eq!(
                snapshot(&target),
                before,
                "{name} ({how}) changed the store"
            );
        }
    }
    // the good archive still loads
    env.sh(&format!(
        "img-load -q --root {} -i good.tar",
        target.display()
    ))
    .ok();
    img_tests::check_layout(&target);
}

#[test]
fn usage_errors() {
    let env = Env::new();
    let run = env.sh("img-load -i nosuch.tar").code(1);
    assert!(run.stderr.contains("nosuch.tar"), "{}", run.stderr);
    env.sh("img-load --bogus").code(2);
}

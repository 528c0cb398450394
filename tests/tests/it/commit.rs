use img_tests::archive::{rewrite_tar, snapshot};
use img_tests::registry::Registry;
use img_tests::{fixtures, need, Env};
use serde_json::{json, Value};

/// A store with `base` (and `multi`) seeded, and a layer in `l/` as
/// `layer.tar`, `.tar.gz`, `.tar.zst`: /etc/motd added, /etc/passwd removed
/// by a whiteout, /srv/app/run added.
fn env_with_layer() -> Env {
    let env = Env::new();
    env.seed("base", "base");
    env.sh(
        "mkdir -p l/etc l/srv/app && echo hi > l/etc/motd && : > l/etc/.wh.passwd \
         && printf '#!/bin/sh\\necho run\\n' > l/srv/app/run && chmod 0755 l/srv/app/run \
         && tar -C l -cf layer.tar . && gzip -c layer.tar > layer.tar.gz \
         && zstd -q -c layer.tar > layer.tar.zst",
    )
    .ok();
    env
}

#[test]
fn layer_on_stdin_with_changes_author_and_message() {
    let env = env_with_layer();
    let base = env.image("base");
    let blobs = env.blob_count();
    let run = env
        .sh(
            r#"tar -C l -c . | SOURCE_DATE_EPOCH=1700000000 img-commit base mine:1 \
              -c 'CMD ["/bin/sh"]' -c 'ENV A=1' -c 'LABEL team=core' -c 'WORKDIR /srv' \
              -a 'Jane <jane@example.com>' -m 'add motd'"#,
        )
        .ok();
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/mine:1"
    );
    let mine = env.image("mine:1");
    assert_eq!(run.stderr.trim(), mine.id().to_string());
    // base's layers shared, the new one on top, stored once: layer, config, manifest
    assert_eq!(env.blob_count(), blobs + 3);
    assert_eq!(&mine.manifest.layers()[..1], base.manifest.layers());
    let layer = &mine.manifest.layers()[1];
    assert_eq!(
        layer.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        mine.descriptor.media_type().to_string(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    let c = &mine.config_json;
    let mut diff_ids = base.config_json["rootfs"]["diff_ids"].clone();
    diff_ids
        .as_array_mut()
        .unwrap()
        .push(json!(layer.digest().to_string()));
    assert_eq!(c["rootfs"]["diff_ids"], diff_ids);
    assert_eq!(c["config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(
        c["config"]["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1"
        ])
    );
    assert_eq!(c["config"]["Labels"], json!({"team": "core"}));
    assert_eq!(c["config"]["WorkingDir"], "/srv");
    assert_eq!(c["author"], "Jane <jane@example.com>");
    assert_eq!(c["created"], "2023-11-14T22:13:20Z");
    assert_eq!(c["architecture"], base.config_json["architecture"]);
    assert!(c.get("comment").is_none(), "{c}");
    assert!(c.get("container_config").is_none(), "{c}");
    let history = c["history"].as_array().unwrap();
    let base_history = base.config_json["history"].as_array().unwrap();
    assert_eq!(&history[..base_history.len()], &base_history[..]);
    assert_eq!(
        history.last().unwrap(),
        &json!({
            "created": "2023-11-14T22:13:20Z",
            "created_by": "img-commit --change 'CMD [\"/bin/sh\"]' --change 'ENV A=1' --change 'LABEL team=core' --change 'WORKDIR /srv'",
            "author": "Jane <jane@example.com>",
            "comment": "add motd",
        })
    );
    // inspect and history show it as Docker would: the message is the
    // last history entry's comment, which Docker shows as Comment
    let inspect = env
        .sh("img-inspect -f '{{.Author}}|{{.Comment}}|{{json .Config.Labels}}' mine:1")
        .ok();
    assert_eq!(
        inspect.stdout.trim(),
        "Jane <jane@example.com>|add motd|{\"team\":\"core\"}"
    );
    let rows = env
        .sh("img-history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' mine:1")
        .ok();
    let first = rows.stdout.lines().next().unwrap();
    assert!(first.starts_with("img-commit --change"), "{}", rows.stdout);
    assert!(first.ends_with("|add motd"), "{}", rows.stdout);
    assert_eq!(rows.stdout.lines().count(), base_history.len() + 1);
    // the flattened filesystem: motd and run added, passwd gone, busybox kept
    env.sh("mkdir out && img-export mine:1 | tar -C out -xf - \
         && test \"$(cat out/etc/motd)\" = hi && test -x out/srv/app/run \
         && test ! -e out/etc/passwd && test ! -e out/etc/.wh.passwd \
         && test -x out/bin/busybox && test -L out/bin/sh")
        .ok();
    // base unchanged
    env.sh("mkdir b && img-export base | tar -C b -xf - && test -e b/etc/passwd && test ! -e b/etc/motd")
        .ok();
    env.check_store();
}

#[test]
fn other_tools_read_the_committed_image() {
    if !need(&["skopeo", "umoci"]) {
        return;
    }
    let env = env_with_layer();
    env.sh("img-commit --layer layer.tar.gz -c 'CMD [\"/bin/sh\"]' base mine:1 >/dev/null")
        .ok();
    let inspect = env
        .sh("skopeo inspect oci:$STORE:docker.io/library/mine:1")
        .ok();
    let v: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    let rootless = if img_tests::is_root() {
        ""
    } else {
        "--rootless"
    };
    env.sh(&format!(
        "umoci unpack {rootless} --image $STORE:docker.io/library/mine:1 bundle >/dev/null \
         && test \"$(cat bundle/rootfs/etc/motd)\" = hi && test ! -e bundle/rootfs/etc/passwd \
         && test -x bundle/rootfs/bin/busybox"
    ))
    .ok();
    env.check_store();
}

#[test]
fn compressed_layers_are_stored_as_they_come() {
    let env = env_with_layer();
    let tar_digest = env.sha256_of("layer.tar");
    for (script, file, media_type) in [
        (
            "img-commit base c:gz < layer.tar.gz",
            "layer.tar.gz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            "cat layer.tar.zst | img-commit -q base c:zst",
            "layer.tar.zst",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            "img-commit --layer layer.tar base c:file",
            "layer.tar",
            "application/vnd.oci.image.layer.v1.tar",
        ),
        (
            "img-commit --layer - base c:dash < layer.tar.gz",
            "layer.tar.gz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ] {
        let run = env.sh(script).ok();
        let name = script
            .split_whitespace()
            .find(|w| w.starts_with("c:"))
            .unwrap();
        let image = env.image(name);
        if script.contains("-q") {
            assert_eq!(run.stderr, "", "{script}");
        }
        let layer = image.manifest.layers().last().unwrap();
        assert_eq!(layer.media_type().to_string(), media_type, "{script}");
        assert_eq!(layer.digest().to_string(), env.sha256_of(file));
        assert_eq!(
            image.config_json["rootfs"]["diff_ids"][1],
            json!(tar_digest),
            "{script}"
        );
        env.sh(&format!(
            "img-export {name} | tar -t > {name}.list && grep -Eqx '(./)?etc/motd' {name}.list"
        ))
        .ok();
    }
    // no name: an unnamed image, found by its ID
    let run = env.sh("img-commit base < layer.tar").ok();
    assert!(run.records()[0].get("annotations").is_none());
    let id = run.stderr.trim().to_string();
    env.sh(&format!("img-inspect {id} >/dev/null")).ok();
    // onto a derived image, by ID prefix
    env.seed("derived", "derived");
    let prefix = &env.id("derived")[7..19];
    env.sh(&format!("img-commit {prefix} d:2 < layer.tar.gz"))
        .ok();
    assert_eq!(env.image("d:2").manifest.layers().len(), 3);
    env.check_store();
}

#[test]
fn changes_only_add_an_empty_layer_entry() {
    let env = env_with_layer();
    let base = env.image("base");
    let run = env
        .sh("img-commit --no-layer -c 'EXPOSE 80' -m 'ports' base ports:1 < /dev/null")
        .ok();
    assert_eq!(run.records().len(), 1);
    let ports = env.image("ports:1");
    assert_eq!(ports.manifest.layers(), base.manifest.layers());
    assert_eq!(ports.config_json["rootfs"], base.config_json["rootfs"]);
    assert_eq!(
        ports.config_json["config"]["ExposedPorts"],
        json!({"80/tcp": {}})
    );
    assert_eq!(ports.config_json["config"]["Cmd"], json!(["sh"]));
    let last = ports.config_json["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["empty_layer"], true);
    assert_eq!(last["created_by"], "img-commit --change 'EXPOSE 80'");
    assert_eq!(last["comment"], "ports");
    // a tar with no entries adds no layer either (Docker: an unchanged container)
    env.sh("tar -cf empty.tar -T /dev/null && img-commit base e:1 < empty.tar")
        .ok();
    let e = env.image("e:1");
    assert_eq!(e.manifest.layers(), base.manifest.layers());
    assert_eq!(
        e.config_json["history"].as_array().unwrap().last().unwrap()["empty_layer"],
        true
    );
    env.check_store();
}

#[test]
fn multi_platform_base_and_platform_choice() {
    let env = env_with_layer();
    env.seed_all("multi", "multi");
    env.sh("img-commit --platform linux/arm64 multi arm:1 < layer.tar")
        .ok();
    let arm = env.image("arm:1");
    assert_eq!(arm.config_json["architecture"], "arm64");
    assert_eq!(arm.manifest.layers().len(), 2);
    let run = env
        .sh("img-commit --platform linux/s390x multi s:1 < layer.tar")
        .code(1);
    assert!(run.stderr.contains("linux/s390x"), "{}", run.stderr);
    env.check_store();
}

#[test]
fn bad_input_changes_nothing() {
    let env = env_with_layer();
    rewrite_tar(&env.path("layer.tar"), &env.path("evil.tar"), |p, h, d| {
        let p = if p.ends_with("motd") {
            "../../etc/motd".to_string()
        } else {
            p.to_string()
        };
        Some((p, h, d))
    });
    let gz = std::fs::read(env.path("layer.tar.gz")).unwrap();
    std::fs::write(env.path("cut.tar.gz"), &gz[..gz.len() / 2]).unwrap();
    let before = snapshot(&env.store());
    for (case, script, code) in [
        ("not a tar", "echo 'not a tar at all' | img-commit base bad:1", 2),
        ("empty stdin", "img-commit base bad:1 < /dev/null", 2),
        ("path escape", "img-commit base bad:1 < evil.tar", 2),
        ("truncated gzip", "img-commit --layer cut.tar.gz base bad:1", 2),
        ("unknown change", "img-commit -c 'RUN rm -rf /' base bad:1 < layer.tar", 2),
        ("bad change", "img-commit -c 'EXPOSE http' base bad:1 < layer.tar", 2),
        ("bad name", "img-commit base Bad:1 < layer.tar", 2),
        (
            "digest name",
            "img-commit base bad@sha256:0000000000000000000000000000000000000000000000000000000000000000 < layer.tar",
            2,
        ),
        (
            "bad SOURCE_DATE_EPOCH",
            "SOURCE_DATE_EPOCH=soon img-commit base bad:1 < layer.tar",
            2,
        ),
        ("unknown image", "img-commit nosuch:1 bad:1 < layer.tar", 1),
        (
            "other platform",
            "img-commit --platform linux/s390x base bad:1 < layer.tar",
            1,
        ),
        ("missing layer file", "img-commit --layer nosuch.tar base bad:1", 1),
    ] {
        let run = env.sh(script);
        assert_eq!(run.code, code, "{case}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{case}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("img-commit: error: "),
            "{case}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{case}");
        assert_eq!(snapshot(&env.store()), before, "{case} changed the store");
    }
    // a terminal on stdin is not a layer (script gives one)
    if need(&["script"]) {
        let run = env
            .sh("script -qec 'img-commit base bad:1' /dev/null < /dev/null")
            .code(2);
        assert!(
            run.stdout.contains("stdin is a terminal") && run.stdout.contains("--no-layer"),
            "{}",
            run.stdout
        );
        assert_eq!(snapshot(&env.store()), before);
    }
    // clap's usage errors
    env.sh("img-commit").code(2);
    env.sh("img-commit --no-layer --layer layer.tar base x")
        .code(2);
    assert_eq!(snapshot(&env.store()), before);
    env.check_store();
}

#[test]
fn docker_base_keeps_docker_media_types_and_pushes() {
    if !need(&["docker-registry", "skopeo"]) {
        return;
    }
    let env = env_with_layer();
    let registry = Registry::open();
    let host = &registry.host;
    env.sh(&format!(
        "skopeo copy -q --format v2s2 --dest-tls-verify=false oci:{}:base docker://{host}/test/dbase:1 \
         && img-pull -q {host}/test/dbase:1 >/dev/null",
        fixtures().display()
    ))
    .ok();
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let dbase = env.image(&format!("{host}/test/dbase:1"));
    assert_eq!(dbase.descriptor.media_type().to_string(), docker);
    // gzip layer: the image stays Docker schema 2
    env.sh(&format!(
        "img-commit {host}/test/dbase:1 {host}/test/dmine:1 < layer.tar.gz >/dev/null"
    ))
    .ok();
    let mine = env.image(&format!("{host}/test/dmine:1"));
    assert_eq!(mine.descriptor.media_type().to_string(), docker);
    assert_eq!(
        mine.manifest.config().media_type().to_string(),
        "application/vnd.docker.container.image.v1+json"
    );
    for layer in mine.manifest.layers() {
        assert_eq!(
            layer.media_type().to_string(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }
    // zstd layer: no Docker media type, so the image becomes OCI
    env.sh(&format!(
        "img-commit {host}/test/dbase:1 {host}/test/dzst:1 < layer.tar.zst >/dev/null"
    ))
    .ok();
    let zst = env.image(&format!("{host}/test/dzst:1"));
    assert_eq!(
        zst.descriptor.media_type().to_string(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    let types: Vec<String> = zst
        .manifest
        .layers()
        .iter()
        .map(|l| l.media_type().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
    assert_eq!(
        zst.manifest.layers()[0].digest(),
        dbase.manifest.layers()[0].digest()
    );
    // both push, and the registry serves them as skopeo reads them
    for name in ["dmine", "dzst"] {
        env.sh(&format!("img-push -q {host}/test/{name}:1 >/dev/null"))
            .ok();
        env.sh(&format!(
            "skopeo inspect --tls-verify=false docker://{host}/test/{name}:1 >/dev/null"
        ))
        .ok();
    }
    env.check_store();
}

#[test]
fn incomplete_base_fails_before_the_layer_is_stored() {
    let env = env_with_layer();
    let base = env.image("base");
    let layer = base.manifest.layers()[0].digest().to_string();
    let blob = format!("$STORE/blobs/sha256/{}", &layer[7..]);
    env.sh(&format!("mv {blob} aside")).ok();
    let before = snapshot(&env.store());
    let run = env.sh("img-commit base bad:1 < layer.tar").code(1);
    assert!(
        run.stderr.contains("incomplete") && run.stderr.contains(&layer),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&env.store()), before);
    env.sh(&format!("mv aside {blob}")).ok();
    env.check_store();
}

use img_tests::archive::{assert_same_tree, rewrite_tar, snapshot};
use img_tests::{need, Env};
use serde_json::json;

/// A small root filesystem in `r/` and as `rootfs.tar`, `.tar.gz`, `.tar.zst`.
fn env_with_rootfs() -> Env {
    let env = Env::new();
    env.sh(
        "mkdir -p r/bin r/etc/conf.d r/srv && echo hello > r/etc/motd && ln -s motd r/etc/link \
         && ln r/etc/motd r/etc/hard && chmod 0600 r/etc/motd && printf 'x=1\\n' > r/etc/conf.d/a \
         && chmod 0750 r/srv && tar -C r -cf rootfs.tar . && gzip -c rootfs.tar > rootfs.tar.gz \
         && zstd -q -c rootfs.tar > rootfs.tar.zst",
    )
    .ok();
    env
}

#[test]
fn import_from_stdin_with_changes() {
    let env = env_with_rootfs();
    let run = env
        .sh(r#"cat rootfs.tar | img-import -c 'CMD ["/bin/sh"]' -c 'ENTRYPOINT ["/entry", "x"]' \
              -c 'ENV A=1 B="two words"' -c 'EXPOSE 80 53/udp' -c 'LABEL team=core version="1.0"' \
              -c 'USER 1000:1000' -c 'VOLUME /data' -c 'WORKDIR /srv' -c 'STOPSIGNAL SIGINT' \
              -c 'HEALTHCHECK --interval=5s --retries=2 CMD ["/bin/true"]' -c 'ONBUILD RUN make' - x:1"#)
        .ok();
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/x:1"
    );
    let image = env.image("x:1");
    assert!(run.stderr.contains(image.id().as_ref()), "{}", run.stderr);
    let c = &image.config_json;
    assert_eq!(c["config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(c["config"]["Entrypoint"], json!(["/entry", "x"]));
    assert_eq!(c["config"]["Env"], json!(["A=1", "B=two words"]));
    assert_eq!(
        c["config"]["ExposedPorts"],
        json!({"80/tcp": {}, "53/udp": {}})
    );
    assert_eq!(
        c["config"]["Labels"],
        json!({"team": "core", "version": "1.0"})
    );
    assert_eq!(c["config"]["User"], "1000:1000");
    assert_eq!(c["config"]["Volumes"], json!({"/data": {}}));
    assert_eq!(c["config"]["WorkingDir"], "/srv");
    assert_eq!(c["config"]["StopSignal"], "SIGINT");
    assert_eq!(
        c["config"]["Healthcheck"],
        json!({"Test": ["CMD", "/bin/true"], "Interval": 5_000_000_000i64, "Retries": 2})
    );
    assert_eq!(c["config"]["OnBuild"], json!(["RUN make"]));
    let shown = env
        .sh("img-inspect -f '{{json .Config.Healthcheck}} {{.Config.OnBuild}}' x:1")
        .ok();
    // in Docker's field order: Test, Interval, …, Retries
    assert_eq!(
        shown.stdout,
        "{\"Test\":[\"CMD\",\"/bin/true\"],\"Interval\":5000000000,\"Retries\":2} [RUN make]\n"
    );
    assert_eq!(c["comment"], "Imported from -");
    assert_eq!(c["history"][0]["comment"], "Imported from -");
    assert_eq!(c["os"], "linux");
    // the layer is the tar as given: its digest is the diff_id
    let tar_digest = env.sha256_of("rootfs.tar");
    assert_eq!(c["rootfs"]["diff_ids"], json!([tar_digest]));
    let layer = &image.manifest.layers()[0];
    assert_eq!(layer.digest().to_string(), tar_digest);
    assert_eq!(
        layer.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    env.check_store();
    if need(&["skopeo"]) {
        env.sh("skopeo inspect oci:$STORE:docker.io/library/x:1 >/dev/null")
            .ok();
    }
}

#[test]
fn compressed_tars_are_stored_as_they_come() {
    let env = env_with_rootfs();
    let tar_digest = env.sha256_of("rootfs.tar");
    for (file, media_type) in [
        (
            "rootfs.tar.gz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            "rootfs.tar.zst",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        env.sh(&format!(
            "img-import -m 'from {file}' --platform linux/arm64 {file} c:{}",
            &file[11..]
        ))
        .ok();
        let image = env.image(&format!("c:{}", &file[11..]));
        let layer = &image.manifest.layers()[0];
        assert_eq!(layer.media_type().to_string(), media_type);
        assert_eq!(layer.digest().to_string(), env.sha256_of(file));
        assert_eq!(image.config_json["rootfs"]["diff_ids"], json!([tar_digest]));
        assert_eq!(image.config_json["comment"], format!("from {file}"));
        assert_eq!(image.config_json["architecture"], "arm64");
    }
    // no name: an unnamed image, found by its ID
    let run = env.sh("img-import rootfs.tar").ok();
    let record = &run.records()[0];
    assert!(record.get("annotations").is_none(), "{record}");
    env.check_store();
}

#[test]
fn import_export_round_trip_keeps_the_tree() {
    let env = env_with_rootfs();
    // plain (exported by seeking past contents) and zstd layers
    for (i, file) in ["rootfs.tar", "rootfs.tar.zst"].iter().enumerate() {
        env.sh(&format!(
            "cat {file} | img-import - rt:{i} >/dev/null && mkdir out{i} && img-export rt:{i} | tar -C out{i} -xpf - --numeric-owner"
        ))
        .ok();
        assert_same_tree(&env.path("r"), &env.path(&format!("out{i}")));
    }
}

#[test]
fn bad_input_changes_nothing() {
    let env = env_with_rootfs();
    env.sh("img-import rootfs.tar good:1 >/dev/null").ok();
    let before = snapshot(&env.store());
    rewrite_tar(&env.path("rootfs.tar"), &env.path("evil.tar"), |p, h, d| {
        let p = if p.ends_with("motd") {
            "../../etc/motd".to_string()
        } else {
            p.to_string()
        };
        Some((p, h, d))
    });
    rewrite_tar(
        &env.path("rootfs.tar"),
        &env.path("evil-link.tar"),
        |p, mut h, d| {
            if h.entry_type() == tar::EntryType::Link {
                h.set_link_name("../../etc/shadow").unwrap();
            }
            Some((p.to_string(), h, d))
        },
    );
    let truncated = std::fs::read(env.path("rootfs.tar.gz")).unwrap();
    std::fs::write(env.path("cut.tar.gz"), &truncated[..truncated.len() / 2]).unwrap();
    for (case, script) in [
        ("not a tar", "echo 'not a tar at all' | img-import - bad:1"),
        ("empty", "img-import - bad:1 < /dev/null"),
        ("path escape", "img-import evil.tar bad:1"),
        ("hard link escape", "img-import evil-link.tar bad:1"),
        ("truncated gzip", "img-import cut.tar.gz bad:1"),
        ("unknown change", "img-import -c 'RUN rm -rf /' rootfs.tar bad:1"),
        ("bad change", "img-import -c 'EXPOSE http' rootfs.tar bad:1"),
        ("bad name", "img-import rootfs.tar Bad:1"),
        ("digest name", "img-import rootfs.tar bad@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
    ] {
        let run = env.sh(script);
        assert_eq!(run.code, 2, "{case}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{case}: {}", run.stderr);
        assert!(run.stderr.starts_with("img-import: error: "), "{case}: {}", run.stderr);
        assert_eq!(snapshot(&env.store()), before, "{case} changed the store");
    }
    // errors name the tar as given: the file, or - for stdin
    let run = env.sh("img-import cut.tar.gz bad:1").code(2);
    assert!(
        run.stderr
            .starts_with("img-import: error: importing cut.tar.gz: "),
        "{}",
        run.stderr
    );
    let run = env.sh("img-import - bad:1 < cut.tar.gz").code(2);
    assert!(
        run.stderr.starts_with("img-import: error: importing -: "),
        "{}",
        run.stderr
    );
    // clap's own usage errors: exit 2 as well
    env.sh("img-import --platform linux/ rootfs.tar bad:1")
        .code(2);
    env.sh("img-import").code(2);
    let run = env.sh("img-import nosuch.tar bad:1").code(1);
    assert!(run.stderr.contains("nosuch.tar"), "{}", run.stderr);
    assert_eq!(snapshot(&env.store()), before);
}

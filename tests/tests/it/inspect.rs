//! img-inspect: Docker's JSON, Go templates, errors, multi-platform images.

use img_tests::{need, peers, Env};

#[test]
fn docker_inspect_json() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    env.sh("img-tag derived localhost:5000/team/app:2").ok();
    let run = env.sh("img-inspect derived").ok();
    assert!(
        run.stdout
            .starts_with("[\n    {\n        \"Id\": \"sha256:"),
        "{}",
        run.stdout
    );
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let image = &value[0];
    let keys: Vec<&str> = image
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // current Docker's fields, in its order; Comment is left out when
    // empty, as Parent is when there is none (API 1.52)
    let order = [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Author",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "RootFS",
        "Metadata",
        "Descriptor",
    ];
    let mut keys = keys.clone();
    keys.sort_by_key(|k| run.stdout.find(&format!("\n        \"{k}\": ")));
    assert_eq!(keys, order);
    assert_eq!(
        image["RepoTags"],
        serde_json::json!(["derived:latest", "localhost:5000/team/app:2"])
    );
    let manifest = env
        .sh("jq -r '.manifests[0].digest' $STORE/index.json")
        .ok()
        .stdout;
    assert_eq!(
        image["RepoDigests"],
        serde_json::json!([
            format!("derived@{}", manifest.trim()),
            format!("localhost:5000/team/app@{}", manifest.trim())
        ])
    );
    assert_eq!(image["Created"], "2026-11-08T10:00:00Z");
    assert_eq!(image["Author"], "img tests");
    assert_eq!(image["Architecture"], "amd64");
    assert_eq!(image["Os"], "linux");
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(image["Config"]["Labels"]["app"], "demo");
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    // the ID is the config digest: the hash of the config's raw bytes as
    // skopeo reads them, and what the manifest names
    let config = env
        .sh("skopeo inspect --raw --config oci:$STORE:derived | sha256sum | cut -d' ' -f1")
        .ok()
        .stdout;
    assert_eq!(image["Id"], format!("sha256:{}", config.trim()));
    let named = env
        .sh("jq -r .config.digest $STORE/blobs/sha256/$(jq -r '.manifests[0].digest' $STORE/index.json | cut -d: -f2)")
        .ok()
        .stdout;
    assert_eq!(image["Id"], named.trim());
    // the sum of the blobs: config and two layers
    let size: u64 = env
        .sh("m=$(jq -r '.manifests[0].digest' $STORE/index.json | cut -d: -f2); jq '[.config.size, .layers[].size] | add' $STORE/blobs/sha256/$m")
        .ok()
        .stdout
        .trim()
        .parse()
        .unwrap();
    assert_eq!(image["Size"], size);
}

#[test]
fn go_templates() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let id = env.id("derived");
    let cases = [
        ("{{.Config.Cmd}}", "[sh]"),
        ("{{.Config.Entrypoint}}", "[]"),
        ("{{json .Config.Cmd}}", "[\"sh\"]"),
        ("{{.Config.Labels}}", "map[app:demo tier:test]"),
        ("{{index .Config.Labels \"tier\"}}", "test"),
        (
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
            "app=demo;tier=test;",
        ),
        (
            "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}",
            "linux/amd64",
        ),
        ("{{len .RootFS.Layers}}", "2"),
        ("{{join .RepoTags \",\"}}", "derived:latest"),
        ("{{upper .Os}}", "LINUX"),
        // Docker's typed struct first: Go field names, nil slices, user
        // maps' missing keys; then the JSON's keys
        ("{{.ID}}", &id),
        ("{{.Id}}", &id),
        (
            "{{.Descriptor.MediaType}}",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "{{.Descriptor.mediaType}}",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        ("{{.Config.Labels.nope}}", "<no value>"),
        ("[{{index .Config.Labels \"nope\"}}]", "[]"),
        ("{{json .Config.Entrypoint}}", "null"),
        ("{{.Metadata.LastTagTime}}", "0001-01-01 00:00:00 +0000 UTC"),
        (
            "{{json .Metadata}}",
            r#"{"LastTagTime":"0001-01-01T00:00:00Z"}"#,
        ),
        (
            "{{json .Config}}",
            r#"{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"Labels":{"app":"demo","tier":"test"}}"#,
        ),
    ];
    for (template, want) in cases {
        let run = env.sh(&format!("img-inspect -f '{template}' derived")).ok();
        assert_eq!(run.stdout, format!("{want}\n"), "{template}");
    }
    let run = env.sh("img-inspect -f '{{json .Config}}' derived").ok();
    let config: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        config["Env"][0],
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    let run = env.sh("img-inspect -f '{{.Config.Cmd' derived").code(2);
    assert!(
        run.stderr.starts_with("img-inspect: error: template"),
        "{}",
        run.stderr
    );
    // a field neither the struct nor the JSON has fails, as Docker's (exit 1)
    for unknown in [
        "{{.Foo}}",
        "{{.Config.Foo}}",
        "{{.Parent}}",
        "{{.ID}} {{.Id}}",
    ] {
        let run = env
            .sh(&format!("img-inspect -f '{unknown}' derived"))
            .code(1);
        assert!(
            run.stderr
                .starts_with("img-inspect: error: template parsing error: "),
            "{unknown}: {}",
            run.stderr
        );
        // nothing rendered: an empty line, as Docker prints
        assert_eq!(run.stdout, "\n", "{unknown}");
    }
}

#[test]
fn commit_message_healthcheck_and_durations() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-commit --no-layer -m 'fix the thing' -a me -c 'HEALTHCHECK --interval=30s --start-period=1m30s --retries=2 CMD [\"true\"]' busybox hc:1 >/dev/null")
        .ok();
    for (template, want) in [
        // docker commit -m: the history entry's comment, shown as Comment
        ("{{.Comment}}|{{.Author}}", "fix the thing|me"),
        ("{{.Config.Healthcheck.Interval}}", "30s"),
        ("{{.Config.Healthcheck.StartPeriod}}", "1m30s"),
        ("{{.Config.Healthcheck.Timeout}}", "0s"),
        ("{{.Config.Healthcheck.Test}}", "[CMD true]"),
        (
            "{{json .Config.Healthcheck}}",
            r#"{"Test":["CMD","true"],"Interval":30000000000,"StartPeriod":90000000000,"Retries":2}"#,
        ),
    ] {
        let run = env.sh(&format!("img-inspect -f '{template}' hc:1")).ok();
        assert_eq!(run.stdout, format!("{want}\n"), "{template}");
    }
    let run = env.sh("img-inspect hc:1").ok();
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value[0]["Comment"], "fix the thing");
    assert_eq!(
        value[0]["Config"]["Healthcheck"]["Interval"],
        30_000_000_000_i64
    );
    // the Healthcheck object in Docker's field order
    let text = run.stdout.replace([' ', '\n'], "");
    assert!(
        text.contains(r#""Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"StartPeriod":90000000000,"Retries":2}"#),
        "{}",
        run.stdout
    );
}

#[test]
fn several_images_and_errors() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    let run = env
        .sh("img-inspect -f '{{.Id}}' busybox nosuch other")
        .code(1);
    assert_eq!(run.stdout.lines().count(), 2);
    assert_eq!(
        run.stderr,
        "img-inspect: error: No such image: nosuch:latest\n"
    );
    let run = env.sh("img-inspect nosuch").code(1);
    assert_eq!(run.stdout, "[]\n");
    // records from stdin, and by ID prefix
    let id = env.id("busybox");
    let run = env
        .sh("img-tag busybox piped:1 | img-inspect -f '{{.Id}}'")
        .ok();
    assert_eq!(run.stdout.trim(), id);
    let run = env
        .sh(&format!("img-inspect -f '{{{{.Id}}}}' {}", &id[7..19]))
        .ok();
    assert_eq!(run.stdout.trim(), id);
}

#[test]
fn ambiguous_prefix_is_a_conflict() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    env.seed("derived", "derived");
    let ids: Vec<String> = ["busybox", "other", "derived"]
        .iter()
        .map(|i| env.id(i))
        .collect();
    // find a prefix two IDs share (the first hex digit often does; else skip)
    let shared = (1..4).rev().find_map(|n| {
        ids.iter().enumerate().find_map(|(i, a)| {
            ids.iter()
                .skip(i + 1)
                .find(|b| a[7..7 + n] == b[7..7 + n])
                .map(|_| a[7..7 + n].to_string())
        })
    });
    if let Some(prefix) = shared {
        let run = env.sh(&format!("img-inspect {prefix}"));
        // a prefix may also be a valid name; either way it must not pick one at random
        assert_ne!(run.code, 0, "{prefix}: {}", run.stdout);
    }
}

#[test]
fn multi_platform_shows_host_image() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed_all("multi", "multi");
    let index = env
        .sh("jq -r '.manifests[0].digest' $STORE/index.json")
        .ok()
        .stdout;
    let run = env
        .sh("img-inspect -f '{{.Id}} {{.Architecture}} {{.Descriptor.mediaType}}' multi")
        .ok();
    assert_eq!(
        run.stdout,
        format!(
            "{} amd64 application/vnd.oci.image.index.v1+json\n",
            index.trim()
        )
    );
}

//! img-history: Docker's columns, <missing> rows, -H=false, --no-trunc, -q, json.

use img_tests::{assert_golden, need, peers, Env};

#[test]
fn table_like_docker_history() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let id = env.id("derived");
    let short = id[7..19].to_string();
    // the busybox layer's size depends on Debian's busybox build
    let layer = env
        .sh("m=$(jq -r '.manifests[0].digest' $STORE/index.json | cut -d: -f2); jq .layers[0].size $STORE/blobs/sha256/$m")
        .ok()
        .stdout
        .trim()
        .to_string();
    let human = env
        .sh("img-history derived | grep busybox-static | awk '{print $(NF)}'")
        .ok()
        .stdout;
    let human = human.trim().to_string();
    let subs = [
        (id.as_str(), "{derived-full-id}"),
        (short.as_str(), "{derived}..."),
        (layer.as_str(), "{layer-1}"),
        (human.as_str(), "{l1}.."),
    ];
    assert_golden(
        "history-table.txt",
        &env.sh("img-history derived").ok().stdout,
        &subs,
    );
    assert_golden(
        "history-raw.txt",
        &env.sh("img-history -H=false --no-trunc derived")
            .ok()
            .stdout,
        &subs,
    );
    let run = env.sh("img-history -q derived").ok();
    assert_eq!(
        run.stdout,
        format!("{short}\n<missing>\n<missing>\n<missing>\n")
    );
}

#[test]
fn json_rows_and_templates() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("derived", "derived");
    let run = env.sh("img-history --json derived").ok();
    let rows = run.records();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1]["CreatedBy"], "COPY hello.txt /hello.txt");
    assert_eq!(rows[3]["CreatedAt"], "2026-11-01T10:00:00Z");
    assert_eq!(rows[0]["ID"].as_str().unwrap().len(), 12);
    let run = env
        .sh("img-history --format '{{.CreatedBy}}|{{.Size}}' derived")
        .ok();
    assert_eq!(
        run.stdout.lines().next(),
        Some("LABEL app=demo tier=test|0B")
    );
    // a template wins over -q; an unknown field fails (exit 1), as Docker's
    let run = env.sh("img-history -q --format '{{.Size}}' derived").ok();
    assert_eq!(run.stdout.lines().next(), Some("0B"));
    let run = env.sh("img-history --format '{{.Nope}}' derived").code(1);
    assert!(
        run.stderr
            .starts_with("img-history: error: template parsing error: "),
        "{}",
        run.stderr
    );
}

#[test]
fn long_commands_are_cut_with_an_ellipsis() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    let long = "RUN /bin/sh -c apt-get update && apt-get install -y curl";
    env.sh(&format!(
        "cp -r $FIXTURES layout && umoci config --image layout:other --history.created 2026-10-03T10:00:00Z \
         --history.created_by '{long}' && mkdir store && skopeo copy -q oci:layout:other oci:$STORE:long"
    ))
    .ok();
    let run = env.sh("img-history long").ok();
    let row = run.stdout.lines().nth(1).unwrap();
    assert!(
        row.contains("RUN /bin/sh -c apt-get update && apt-get ins… "),
        "{row}"
    );
    let run = env.sh("img-history --no-trunc long").ok();
    assert!(run.stdout.contains(long), "{}", run.stdout);
}

#[test]
fn errors() {
    let env = Env::new();
    let run = env.sh("img-history nosuch").code(1);
    assert_eq!(
        run.stderr,
        "img-history: error: No such image: nosuch:latest\n"
    );
    let run = env.sh("img-history -H=maybe x").code(2);
    assert!(run.stderr.contains("maybe"), "{}", run.stderr);
}

//! img-build builds the stages that do not depend on each other at the same
//! time, and prints what the classic builder prints building them one after
//! the other.

use img_tests::registry::Registry;
use img_tests::{need, Env};

/// `one` and `two` depend on nothing, `three` on `two` (through a RUN
/// mount alone), the last stage on `one` and `three`.
const DOCKERFILE: &str = r#"FROM base AS one
RUN echo from-one-run
COPY a.txt /a.txt
FROM base AS two
COPY b.txt /b.txt
RUN echo from-two-run
FROM base AS three
RUN --mount=type=bind,from=two,source=/b.txt,target=/m cat /m > /m-copy
FROM base
COPY --from=one /a.txt /a
COPY --from=three /m-copy /c
CMD ["sh", "-c", "cat /a /c"]
"#;

#[test]
fn stages_built_at_once_print_in_file_order_and_cache_alike() {
    if !need(&["runc", "skopeo"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "base");
    for (path, content) in [
        ("ctx/Dockerfile", DOCKERFILE),
        ("ctx/a.txt", "a\n"),
        ("ctx/b.txt", "b\n"),
    ] {
        let full = env.path(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    let built = env.sh("img-build -t par:1 ctx").ok();
    let steps: Vec<&str> = built
        .stderr
        .lines()
        .filter(|l| l.starts_with("Step "))
        .collect();
    // The stage a RUN mount names is built first and counted, as BuildKit
    // plans it; the numbers are those of the file's order.
    assert_eq!(
        steps,
        [
            "Step 1/12 : FROM base AS one",
            "Step 2/12 : RUN echo from-one-run",
            "Step 3/12 : COPY a.txt /a.txt",
            "Step 4/12 : FROM base AS two",
            "Step 5/12 : COPY b.txt /b.txt",
            "Step 6/12 : RUN echo from-two-run",
            "Step 7/12 : FROM base AS three",
            "Step 8/12 : RUN --mount=type=bind,from=two,source=/b.txt,target=/m cat /m > /m-copy",
            "Step 9/12 : FROM base",
            "Step 10/12 : COPY --from=one /a.txt /a",
            "Step 11/12 : COPY --from=three /m-copy /c",
            "Step 12/12 : CMD [\"sh\", \"-c\", \"cat /a /c\"]",
        ],
        "{}",
        built.stderr
    );
    // Each RUN's output is in its stage's place, after its own step.
    let at = |text: &str| {
        built
            .stderr
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} missing: {}", built.stderr))
    };
    assert!(at("Step 2/12") < at("\nfrom-one-run") && at("\nfrom-one-run") < at("Step 3/12"));
    assert!(at("Step 6/12") < at("\nfrom-two-run") && at("\nfrom-two-run") < at("Step 7/12"));
    let run = env.sh("img-run --rm par:1").ok();
    assert_eq!(run.stdout, "a\nb\n");

    // Built again, every step is a hit and the image is the same.
    let id = env.id("par:1");
    let again = env.sh("img-build -t par:2 ctx").ok();
    assert_eq!(
        again.stderr.matches(" ---> Using cache").count(),
        8,
        "every step but the FROMs: {}",
        again.stderr
    );
    assert_eq!(env.id("par:2"), id);
    env.sh("img-fsck").ok();

    // The layers compressed in the background are the image's: saved,
    // pushed and read back by skopeo, they are whole gzip blobs.
    let registry = Registry::open();
    let pushed = format!("{}/par:1", registry.host);
    env.sh(&format!(
        "img-save -o par.tar par:1 && skopeo inspect docker-archive:par.tar >/dev/null && \
         img-tag par:1 {pushed} && img-push -q {pushed} && \
         skopeo copy -q --src-tls-verify=false docker://{pushed} oci:copy:par && \
         img-load -q -i par.tar >/dev/null"
    ))
    .ok();
    let manifest: serde_json::Value =
        serde_json::from_str(&env.sh("skopeo inspect --raw oci:copy:par").ok().stdout).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{manifest}");
    for layer in layers {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{manifest}"
        );
    }
    assert_eq!(env.id(&pushed), id);
}

/// Two stages that depend on nothing, whose RUNs each wait (a minute at
/// most) for the other's to have started: they see each other through the
/// cache mount both bind.
const MEETING: &str = r#"FROM base AS one
RUN --mount=type=cache,target=/meet,id=meet sh -c 'touch /meet/one /ran-one; i=0; while [ ! -e /meet/two ]; do i=$((i+1)); [ $i -le 600 ] || exit 7; sleep 0.1; done'
FROM base AS two
RUN --mount=type=cache,target=/meet,id=meet sh -c 'touch /meet/two /ran-two; i=0; while [ ! -e /meet/one ]; do i=$((i+1)); [ $i -le 600 ] || exit 7; sleep 0.1; done'
FROM base
COPY --from=one /ran-one /one
COPY --from=two /ran-two /two
"#;

#[test]
fn run_steps_of_independent_stages_run_at_once() {
    if !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "base");
    let full = env.path("ctx/Dockerfile");
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, MEETING).unwrap();
    // One after the other, the first RUN would wait for the second in vain
    // and fail (exit 7).
    let built = env.sh("img-build -t meet:1 ctx").ok();
    assert!(
        built.stderr.contains("Successfully tagged meet:1"),
        "{}",
        built.stderr
    );
    env.sh("img-fsck").ok();
}

//! Quota-friendly pulls: a tag is first asked for with HEAD, and when the
//! store already holds what it names nothing is fetched (img-pull,
//! `img-run --pull`, img-build's FROM). Counted at the registry: its access
//! log shows every request img sent.

use std::time::{Duration, Instant};

use img_tests::registry::Registry;
use img_tests::{fixtures, need, peers, Env};

/// Manifests and blobs img fetched (GET) from `registry`.
fn gets(registry: &Registry) -> usize {
    registry.img_requests("GET", "/manifests/") + registry.img_requests("GET", "/blobs/")
}

/// Every request img sent to `registry`.
fn all_requests(registry: &Registry) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains(" \"img/"))
        .count()
}

/// Wait (at most 10 s) until `count` reaches `want`: the registry logs a
/// request after answering it.
fn reaches(count: impl Fn() -> usize, want: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if count() >= want {
            return count() == want;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_unchanged_tag_is_asked_with_head_and_nothing_fetched() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "test/app:1");
    let host = &registry.host;
    let run = env.sh(&format!("img-pull {host}/test/app:1")).ok();
    assert!(run.stderr.contains("Status: Downloaded newer image for"));
    let digest = run.records()[0]["digest"].as_str().unwrap().to_string();
    let fetched = gets(&registry);
    assert!(fetched >= 3, "{}", registry.log());

    let heads = registry.img_requests("HEAD", "/manifests/1");
    let run = env.sh(&format!("img-pull {host}/test/app:1")).ok();
    assert_eq!(
        run.stderr,
        format!(
            "1: Pulling from test/app\nDigest: {digest}\nStatus: Image is up to date for {host}/test/app:1\n"
        )
    );
    assert!(reaches(
        || registry.img_requests("HEAD", "/manifests/1"),
        heads + 1
    ));
    assert_eq!(gets(&registry), fetched, "{}", registry.log());

    // The same image under a new tag: one HEAD, nothing fetched, a new name.
    registry.skopeo_push(&fixtures(), "base", "test/app:2");
    let run = env.sh(&format!("img-pull {host}/test/app:2")).ok();
    assert!(
        run.stderr.contains("Status: Downloaded newer image for"),
        "{}",
        run.stderr
    );
    assert_eq!(run.records()[0]["digest"], digest.as_str());
    assert_eq!(gets(&registry), fetched);

    // By digest, present: no request at all.
    let before = all_requests(&registry);
    let run = env
        .sh(&format!("img-pull -q {host}/test/app@{digest}"))
        .ok();
    assert_eq!(run.records()[0]["digest"], digest.as_str());
    assert_eq!(all_requests(&registry), before);

    // The tag moved: the new image is fetched, the shared layer not again.
    registry.skopeo_push(&fixtures(), "derived", "test/app:1");
    let run = env.sh(&format!("img-pull {host}/test/app:1")).ok();
    assert!(run.stderr.contains("Already exists"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Status: Downloaded newer image for"),
        "{}",
        run.stderr
    );
    assert!(
        reaches(|| gets(&registry), fetched + 3),
        "{}",
        registry.log()
    );
    env.check_store();
}

#[test]
fn a_multi_platform_tag_is_known_by_its_index_digest() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    env.sh(&format!(
        "skopeo copy -q --all --dest-tls-verify=false oci:$FIXTURES:multi docker://{host}/test/multi:1"
    ))
    .ok();
    let image = format!("{host}/test/multi:1");
    let run = env.sh(&format!("img-pull -q {image}")).ok();
    assert_eq!(run.records()[0]["platform"]["architecture"], "amd64");
    let fetched = gets(&registry);

    let run = env.sh(&format!("img-pull {image}")).ok();
    assert!(run.stderr.contains("Image is up to date"), "{}", run.stderr);
    assert_eq!(gets(&registry), fetched);

    // Another platform is not there yet; once pulled, it is up to date too.
    env.sh(&format!("img-pull -q --platform linux/arm64 {image}"))
        .ok();
    assert!(gets(&registry) > fetched);
    let fetched = gets(&registry);
    let run = env
        .sh(&format!("img-pull --platform linux/arm64 {image}"))
        .ok();
    assert!(run.stderr.contains("Image is up to date"), "{}", run.stderr);
    assert_eq!(gets(&registry), fetched);
    env.check_store();
}

#[test]
fn run_and_build_look_up_their_images_with_head_first() {
    if !need(peers::REGISTRY) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let image = format!("{}/test/base:1", registry.host);
    env.sh(&format!("img-pull -q {image}")).ok();
    let fetched = gets(&registry);

    // --pull missing (the default) finds it: no request at all.
    let before = all_requests(&registry);
    env.sh(&format!("img-run --rm {image} sh -c :")).ok();
    assert_eq!(all_requests(&registry), before);
    // --pull always asks with HEAD, and fetches nothing.
    let heads = registry.img_requests("HEAD", "/manifests/1");
    let run = env
        .sh(&format!("img-run --rm --pull always {image} sh -c :"))
        .ok();
    assert!(run.stderr.contains("Image is up to date"), "{}", run.stderr);
    assert!(reaches(
        || registry.img_requests("HEAD", "/manifests/1"),
        heads + 1
    ));
    assert_eq!(gets(&registry), fetched);

    std::fs::create_dir_all(env.path("ctx")).unwrap();
    std::fs::write(
        env.path("ctx/Dockerfile"),
        format!("FROM {image}\nRUN sh -c \"echo built > /built\"\n"),
    )
    .unwrap();
    let before = all_requests(&registry);
    env.sh("img-build -q ctx").ok();
    assert_eq!(all_requests(&registry), before);
    let run = env.sh("img-build --pull ctx").ok();
    assert!(run.stderr.contains("Image is up to date"), "{}", run.stderr);
    assert!(reaches(
        || registry.img_requests("HEAD", "/manifests/1"),
        heads + 2
    ));
    assert_eq!(gets(&registry), fetched);
    env.check_store();
}

//! img-pull and img-push against registries that misbehave the way real
//! ones do, through the HTTP-aware proxy: 429/503 answers with
//! `Retry-After`, blob downloads redirected to another host, upload chunks
//! cut off. Waits are checked by the proxy's record of when each request
//! arrived (a lower bound, which no slowness can break), never by timing
//! the run.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use img_tests::faults::{FaultCase, Inject};
use img_tests::http_proxy::{overloaded, Action, HttpProxy, RetryAfter, Rule, Seen};
use img_tests::proxy::{Fault, Proxy};
use img_tests::registry::{big_fixture, big_fixture_manifest, remote_digest, Registry};
use img_tests::{fixtures, need, peers, Env};

/// Each request a rule answered was sent again, as the same request, no
/// sooner than `at_least` after the answer.
#[track_caller]
fn asked_again_after(seen: &[Seen], at_least: Duration) {
    let refused: Vec<&Seen> = seen.iter().filter(|s| s.action.is_some()).collect();
    assert!(!refused.is_empty(), "no rule applied: {seen:#?}");
    for r in refused {
        let again = seen
            .iter()
            .find(|s| s.at > r.at && s.method == r.method && s.target == r.target)
            .unwrap_or_else(|| panic!("{} {} was not asked again", r.method, r.target));
        let waited = again.at - r.at;
        assert!(
            waited >= at_least,
            "{} {} was asked again after {waited:?}, before its Retry-After",
            r.method,
            r.target
        );
    }
}

#[test]
fn pulls_wait_as_retry_after_says() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "derived", "test/derived:1");
    let proxy = HttpProxy::start(
        &registry.host,
        vec![
            Rule::new("GET", "/v2/$", 1, overloaded(503, RetryAfter::Seconds(1))),
            Rule::new(
                "GET",
                "/manifests/",
                1,
                overloaded(429, RetryAfter::Seconds(1)),
            ),
            // An HTTP-date two seconds on: a wait of more than one second.
            Rule::new("GET", "/blobs/", 1, overloaded(503, RetryAfter::DateIn(2))),
        ],
    );
    let run = env
        .sh(&format!("img-pull {}/test/derived:1", proxy.host))
        .ok();
    assert_eq!(
        run.records()[0]["digest"],
        remote_digest(&env, &format!("{}/test/derived:1", registry.host))
    );
    let seen = proxy.seen();
    assert_eq!(
        seen.iter().filter(|s| s.action.is_some()).count(),
        3,
        "{seen:#?}"
    );
    asked_again_after(&seen, Duration::from_secs(1));
    assert_eq!(proxy.requests("GET", "/manifests/").len(), 2);
    env.check_store();
}

#[test]
fn pushes_wait_as_retry_after_says() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    env.seed("base", "base");
    let registry = Registry::open();
    let proxy = HttpProxy::start(
        &registry.host,
        vec![
            Rule::new(
                "POST",
                "/blobs/uploads/",
                1,
                overloaded(429, RetryAfter::Seconds(1)),
            ),
            Rule::new(
                "PUT",
                "/manifests/",
                1,
                overloaded(503, RetryAfter::DateIn(2)),
            ),
        ],
    );
    let run = env
        .sh(&format!(
            // One blob at a time: each upload starts with the same POST.
            "img-push --max-concurrent-uploads 1 base --to {}/test/base:1",
            proxy.host
        ))
        .ok();
    assert_eq!(
        remote_digest(&env, &format!("{}/test/base:1", registry.host)),
        run.records()[0]["digest"].as_str().unwrap()
    );
    asked_again_after(&proxy.seen(), Duration::from_secs(1));
    assert_eq!(proxy.requests("PUT", "/manifests/").len(), 2);
    env.check_store();
}

#[test]
fn a_registry_that_keeps_failing_is_one_error_line() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "derived", "test/derived:1");
    let env = Env::new();
    env.seed("base", "base");
    let index = env.index_bytes();
    let before = env.blob_count();

    let always = usize::MAX / 2;
    let unavailable = |method| {
        Inject::Http(vec![Rule::new(
            method,
            "/blobs/",
            always,
            overloaded(503, RetryAfter::Seconds(0)),
        )])
    };
    let cases = [
        FaultCase {
            what: "every blob download answered 503: a few retries each, then one line",
            inject: unavailable("GET"),
            script: "img-pull {host}/test/derived:1".to_string(),
            code: 1,
            check: Box::new(|env, run, proxy| {
                let errors = error_lines(run);
                assert!(
                    errors[0].starts_with("img-pull: error: pulling ")
                        && errors[0].contains("HTTP 503")
                        && errors[0].contains("try again later"),
                    "{}",
                    run.stderr
                );
                assert_eq!(run.stdout, "");
                let tries = proxy.http().requests("GET", "/blobs/").len();
                // derived has three blobs; each is asked for once and retried 5 times at most.
                assert!((6..=18).contains(&tries), "{tries} blob requests");
                assert_eq!(env.index_bytes(), index);
                assert_eq!(env.blob_count(), before, "no blob was stored");
            }),
        },
        FaultCase {
            what: "every blob check answered 503: nothing is uploaded, no manifest put",
            inject: unavailable("HEAD"),
            script: "img-push base --to {host}/test/pushed:1".to_string(),
            code: 1,
            check: Box::new(|env, run, proxy| {
                let errors = error_lines(run);
                assert!(
                    errors[0].starts_with("img-push: error: pushing ")
                        && errors[0].contains("HTTP 503"),
                    "{}",
                    run.stderr
                );
                assert!(proxy.http().requests("POST", "/blobs/uploads/").is_empty());
                assert!(proxy.http().requests("PUT", "/manifests/").is_empty());
                assert_eq!(env.index_bytes(), index);
            }),
        },
    ];
    // Both in one store: neither changes it.
    for case in cases {
        case.run_in(&env, &registry.host);
    }
}

#[test]
fn blob_downloads_follow_redirects_without_the_credentials() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let registry = Registry::open_with_big();
    // "Storage" on another address: records what reaches it. The
    // connection to it breaks once, after 5 MiB (in the big layer), so that
    // the rest is fetched in ranges: a fast stream is not split otherwise.
    let storage = HttpProxy::start(&registry.host, Vec::new());
    let breaking = Proxy::start(
        &storage.host,
        Fault::Cut {
            after: 5 << 20,
            times: 1,
        },
    );
    // The registry's front: it asks for Basic credentials (so img sends an
    // Authorization header) and redirects every blob download to storage.
    let always = usize::MAX / 2;
    let front = HttpProxy::start(
        &registry.host,
        vec![
            Rule::new(
                "GET",
                "/v2/$",
                always,
                Action::Answer {
                    status: 401,
                    retry_after: None,
                    headers: vec![(
                        "www-authenticate".into(),
                        r#"Basic realm="img-test""#.into(),
                    )],
                },
            ),
            Rule::new(
                "GET",
                "/blobs/",
                always,
                Action::Redirect {
                    to: breaking.host.clone(),
                },
            ),
        ],
    );
    let env = Env::new();
    let run = env
        .sh(&format!(
            "img-pull --creds someone:Pa55-word {}/test/big:1",
            front.host
        ))
        .ok();
    assert_eq!(
        run.records()[0]["digest"],
        remote_digest(&env, &format!("{}/test/big:1", registry.host))
    );
    let redirected = front.requests("GET", "/blobs/");
    assert!(!redirected.is_empty());
    for r in &redirected {
        assert_eq!(r.status, 307);
        assert!(r.header("authorization").is_some(), "{r:?}");
    }
    let fetched = storage.requests("GET", "/blobs/");
    assert!(fetched.len() >= 3, "config and two layers: {fetched:#?}");
    for f in &fetched {
        assert_eq!(
            f.header("authorization"),
            None,
            "credentials went to the storage host"
        );
    }
    assert_eq!(
        breaking.applied.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        fetched.iter().any(|f| f.header("range").is_some()),
        "the big layer is resumed in ranges from storage too"
    );
    env.check_store();
}

/// A store holding the big fixture, for pushes.
fn big_store() -> Env {
    let env = Env::new();
    std::fs::create_dir_all(env.store()).unwrap();
    env.sh(&format!(
        "skopeo copy -q oci:{}:big oci:$STORE:big",
        big_fixture().display()
    ))
    .ok();
    env
}

/// How many blobs the big fixture's image has: its config and layers.
fn big_blobs() -> usize {
    1 + big_fixture_manifest().layers().len()
}

/// How many blobs the registry lacked (HEAD 404), and how many upload
/// sessions were started.
fn sessions(proxy: &HttpProxy) -> (usize, usize) {
    let missing = proxy
        .requests("HEAD", "/blobs/")
        .iter()
        .filter(|s| s.status == 404)
        .count();
    (missing, proxy.requests("POST", "/blobs/uploads/").len())
}

/// The upload session's `Range` after the cut, and the `Content-Range` of
/// the next chunk sent.
fn resumed_from(proxy: &HttpProxy) -> (String, String) {
    let seen = proxy.seen();
    let cut = seen
        .iter()
        .position(|s| s.action.is_some())
        .expect("the cut happened");
    let status = seen[cut..]
        .iter()
        .find(|s| s.method == "GET" && s.target.contains("/blobs/uploads/"))
        .expect("the upload's state was asked for");
    let next = seen[cut + 1..]
        .iter()
        .find(|s| s.method == "PATCH")
        .expect("the upload went on");
    (
        status.response_header("range").unwrap_or("").to_string(),
        next.header("content-range").unwrap_or("").to_string(),
    )
}

#[test]
fn a_cut_upload_chunk_resumes_where_the_registry_says() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = big_store();
    // The second chunk's connection breaks before the registry sees it: the
    // session holds the first chunk, and the upload goes on from there.
    let registry = Registry::open();
    let proxy = HttpProxy::start(
        &registry.host,
        vec![Rule::new("PATCH", "/blobs/uploads/", 1, Action::CutBeforeBody).after(1)],
    );
    let run = env
        .sh(&format!("img-push big --to {}/test/big:1", proxy.host))
        .ok();
    let (held, next) = resumed_from(&proxy);
    let first = proxy.requests("PATCH", "/blobs/uploads/")[0]
        .header("content-range")
        .unwrap()
        .to_string();
    let chunk: u64 = first.split('-').nth(1).unwrap().parse::<u64>().unwrap() + 1;
    assert_eq!(held, format!("0-{}", chunk - 1));
    assert!(next.starts_with(&format!("{chunk}-")), "{next}");
    let blobs = big_blobs();
    assert_eq!(
        sessions(&proxy),
        (blobs, blobs),
        "one session per blob, none again"
    );
    let digest = run.records()[0]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        remote_digest(&env, &format!("{}/test/big:1", registry.host)),
        digest
    );
    // The registry holds the right bytes: skopeo copies it back, verified.
    env.sh(&format!(
        "skopeo copy -q --src-tls-verify=false docker://{}/test/big:1 oci:back:big",
        registry.host
    ))
    .ok();
    img_tests::check_layout(&env.path("back"));

    // The first chunk breaks off before any byte arrived: the distribution
    // registry reports the empty session as `0-0`, which is nothing held.
    let registry = Registry::open();
    let proxy = HttpProxy::start(
        &registry.host,
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            1,
            Action::CutBeforeBody,
        )],
    );
    env.sh(&format!("img-push big --to {}/test/big:1", proxy.host))
        .ok();
    let (held, next) = resumed_from(&proxy);
    assert_eq!(held, "0-0");
    assert!(next.starts_with("0-"), "{next}");
    let blobs = big_blobs();
    assert_eq!(
        sessions(&proxy),
        (blobs, blobs),
        "one session per blob, none again"
    );
    assert_eq!(
        remote_digest(&env, &format!("{}/test/big:1", registry.host)),
        digest
    );
    env.check_store();
}

#[test]
fn an_upload_chunk_cut_half_way_starts_a_new_session() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = big_store();
    // 8 MiB of the first chunk reach the registry, then the connection
    // breaks: the distribution registry gives the session up (its size no
    // longer matches), and the blob is sent again in a new one.
    let registry = Registry::open();
    let proxy = HttpProxy::start(
        &registry.host,
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            1,
            Action::CutAfter { bytes: 8 << 20 },
        )],
    );
    let run = env
        .sh(&format!("img-push big --to {}/test/big:1", proxy.host))
        .ok();
    assert!(proxy.seen().iter().any(|s| s.action.is_some()));
    let (blobs, sessions) = sessions(&proxy);
    assert!(
        sessions > blobs,
        "{sessions} upload sessions for {blobs} blobs"
    );
    assert_eq!(
        remote_digest(&env, &format!("{}/test/big:1", registry.host)),
        run.records()[0]["digest"].as_str().unwrap()
    );
    env.sh(&format!(
        "skopeo copy -q --src-tls-verify=false docker://{}/test/big:1 oci:back:big",
        registry.host
    ))
    .ok();
    img_tests::check_layout(&env.path("back"));
    env.check_store();
}

/// The lines of `run`'s stderr that report an error: there must be one.
#[track_caller]
fn error_lines(run: &img_tests::Run) -> Vec<&str> {
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    errors
}

/// A big layer that arrives slowly through one stream gives way to
/// parallel `Range` requests for the rest, which go on from the bytes the
/// stream wrote.
#[test]
fn a_slow_big_layer_is_fetched_in_parallel_ranges() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let registry = Registry::open_with_big();
    // 16 MB/s a connection: far below what one stream must deliver.
    let slow = Proxy::throttled(&registry.host, 16 << 20);
    let seen = HttpProxy::start(&slow.host, Vec::new());
    let env = Env::new();
    let run = env.sh(&format!("img-pull {}/test/big:1", seen.host)).ok();
    assert!(!run.stderr.contains("Resumed"), "{}", run.stderr);
    let ranges: Vec<u64> = seen
        .requests("GET", "/blobs/")
        .iter()
        .filter_map(|r| r.header("range"))
        .map(|r| {
            let from = r.trim_start_matches("bytes=").split('-').next().unwrap();
            from.parse().unwrap()
        })
        .collect();
    assert!(ranges.len() >= 2, "parallel ranges: {ranges:?}");
    assert!(
        ranges.iter().all(|&from| from >= 1 << 20),
        "the ranges go on after the stream's bytes: {ranges:?}"
    );
    assert_eq!(
        run.records()[0]["digest"],
        remote_digest(&env, &format!("{}/test/big:1", registry.host))
    );
    env.check_store();
}

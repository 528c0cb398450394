#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::SeqCst;

use img_tests::faults::{run_fault_cases, FaultCase, Inject};
use img_tests::proxy::{Fault, Proxy};
use img_tests::registry::{
    big_fixture, big_fixture_manifest, free_port, remote_digest, Auth, Registry, PASSWORD, USER,
};
use img_tests::{fixtures, need, peers, Env};

fn remote_config_digest(env: &Env, reference: &str) -> String {
    let run = env
        .sh(&format!(
            "skopeo inspect --raw --tls-verify=false docker://{reference}"
        ))
        .ok();
    let manifest: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    manifest["config"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn pulls_skopeo_pushed_images_with_identical_digests() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    registry.skopeo_push(&fixtures(), "derived", "test/derived:1");
    let host = &registry.host;
    let run = env
        .sh(&format!(
            "img-pull {host}/test/base:1 {host}/test/derived:1"
        ))
        .ok();
    let records = run.records();
    assert_eq!(records.len(), 2, "{}", run.stdout);
    assert_eq!(
        records[0]["digest"],
        remote_digest(&env, &format!("{host}/test/base:1"))
    );
    assert_eq!(
        records[1]["digest"],
        remote_digest(&env, &format!("{host}/test/derived:1"))
    );
    assert_eq!(
        records[0]["annotations"]["org.opencontainers.image.ref.name"],
        format!("{host}/test/base:1")
    );
    assert!(
        run.stderr.contains("1: Pulling from test/base"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Pull complete"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Status: Downloaded newer image for"),
        "{}",
        run.stderr
    );
    // the config digest (image ID) is the registry's
    let config = env
        .sh(&format!(
            "skopeo inspect --raw oci:$STORE:{host}/test/derived:1"
        ))
        .ok();
    let manifest: serde_json::Value = serde_json::from_str(&config.stdout).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        remote_config_digest(&env, &format!("{host}/test/derived:1"))
    );
    env.check_store();

    // a re-pull asks with HEAD and downloads nothing, as Docker says it
    let blob_gets = registry.requests("GET", "/blobs/");
    let manifest_gets = registry.requests("GET", "/manifests/");
    let run = env.sh(&format!("img-pull {host}/test/derived:1")).ok();
    assert_eq!(
        registry.requests("GET", "/blobs/"),
        blob_gets,
        "{}",
        registry.log()
    );
    assert_eq!(registry.requests("GET", "/manifests/"), manifest_gets);
    assert!(!run.stderr.contains("Pulling fs layer"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Status: Image is up to date for"),
        "{}",
        run.stderr
    );

    // by digest: named name@digest, found by it
    let digest = records[0]["digest"].as_str().unwrap();
    let run = env
        .sh(&format!("img-pull -q {host}/test/base@{digest}"))
        .ok();
    assert_eq!(run.stderr, "");
    assert_eq!(run.records()[0]["digest"], digest);
    env.check_store();
}

/// An OCI layout holding `multi:1`: an index of the fixture `base` for the
/// host's platform and a copy of it that claims to be for linux/s390x.
fn multi_platform_layout(env: &Env) -> std::path::PathBuf {
    use img_core::reference::Reference;
    use oci_spec::image::{Arch, ImageConfiguration, ImageManifest, Os};
    let layout = env.path("multi");
    env.sh(&format!(
        "skopeo copy -q oci:{}:base oci:{}:base",
        fixtures().display(),
        layout.display()
    ))
    .ok();
    let store = img_store::Store::open(&layout).unwrap();
    let base = store.resolve("base").unwrap();
    let img_core::image::Target::Image(image) = &base.target else {
        panic!("base is an image")
    };
    let mut config: ImageConfiguration = image.config.clone();
    config.set_architecture(Arch::s390x);
    config.set_os(Os::Linux);
    let (config_digest, config_size) = store
        .write_blob(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let mut manifest: ImageManifest = image.manifest.clone();
    let mut config_desc = manifest.config().clone();
    config_desc.set_digest(config_digest);
    config_desc.set_size(config_size);
    manifest.set_config(config_desc);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (other_digest, other_size) = store.write_blob(&bytes).unwrap();
    let host = img_core::platform::Platform::host();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.descriptor.digest().to_string(),
             "size": image.descriptor.size(), "platform": {"os": "linux", "architecture": host.architecture}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other_digest.to_string(),
             "size": other_size, "platform": {"os": "linux", "architecture": "s390x"}},
        ]
    });
    let (index_digest, index_size) = store
        .write_blob(&serde_json::to_vec(&index).unwrap())
        .unwrap();
    let descriptor = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageIndex,
        index_size,
        index_digest,
    );
    store
        .update_index(|i| {
            i.set_name(&Reference::parse("multi:1").unwrap(), &descriptor);
            Ok(())
        })
        .unwrap();
    layout
}

#[test]
fn pulls_the_host_platform_or_all_of_an_index() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let layout = multi_platform_layout(&env);
    let host = &registry.host;
    env.sh(&format!(
        "skopeo copy -q --all --dest-tls-verify=false oci:{}:docker.io/library/multi:1 docker://{host}/test/multi:1",
        layout.display()
    ))
    .ok();
    let index_digest = remote_digest(&env, &format!("{host}/test/multi:1"));
    let arch = img_core::platform::Platform::host().architecture;

    let run = env.sh(&format!("img-pull {host}/test/multi:1")).ok();
    let record = &run.records()[0];
    assert_eq!(
        record["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(record["platform"]["architecture"], arch.as_str());
    assert!(
        run.stderr.contains(&format!("Digest: {index_digest}")),
        "{}",
        run.stderr
    );

    let run = env
        .sh(&format!(
            "img-pull --platform linux/s390x {host}/test/multi:1"
        ))
        .ok();
    assert_eq!(run.records()[0]["platform"]["architecture"], "s390x");

    let run = env
        .sh(&format!(
            "img-pull --root other --all-platforms {host}/test/multi:1"
        ))
        .ok();
    let record = run.records().into_iter().last().unwrap();
    assert_eq!(record["digest"], index_digest.as_str());
    assert_eq!(
        record["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    img_tests::check_layout(&env.path("other"));
    env.sh(&format!(
        "skopeo inspect --raw oci:other:{host}/test/multi:1 >/dev/null"
    ))
    .ok();

    let run = env
        .sh(&format!(
            "img-pull --platform linux/mips64le {host}/test/multi:1"
        ))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("s390x"), "{}", run.stderr);
    env.check_store();
}

#[test]
fn failures_are_one_line_and_write_nothing() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    env.seed("other", "keep");
    let before = std::fs::read(env.store().join("index.json")).unwrap();
    let host = &registry.host;
    let closed = format!("127.0.0.1:{}", free_port());
    for (args, why) in [
        (format!("{host}/test/base:nosuchtag"), "manifest unknown"),
        (format!("{host}/nosuch/repo:1"), "unknown"),
        (format!("{closed}/test/base:1"), "connection refused"),
    ] {
        let run = env.sh(&format!("img-pull {args}")).code(1);
        assert_eq!(run.stderr.lines().count(), 1, "{args}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("img-pull: error: pulling "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(why), "{args}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let run = env.sh("img-pull 'Bad/Name'").code(2);
    assert_eq!(run.stderr.lines().count(), 1);
    assert_eq!(
        std::fs::read(env.store().join("index.json")).unwrap(),
        before
    );
    env.check_store();
}

#[test]
fn authenticated_registries() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let env = Env::new();
    // Basic auth: anonymous is refused; --creds works; a wrong password is one line.
    let basic = Registry::start(Auth::Htpasswd, false);
    basic.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &basic.host;
    let run = env.sh(&format!("img-pull {host}/test/base:1")).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let run = env
        .sh(&format!("img-pull --creds {USER}:wrong {host}/test/base:1"))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("wrong"),
        "the password leaked: {}",
        run.stderr
    );
    env.sh(&format!(
        "img-pull --creds {USER}:{PASSWORD} {host}/test/base:1"
    ))
    .ok();

    // Token auth: tokens are fetched once per scope and reused.
    let token = Registry::start(Auth::Token, false);
    token.skopeo_push(&fixtures(), "derived", "test/derived:1");
    let issued_before = token.issuer.as_ref().unwrap().issued.load(SeqCst);
    let run = env
        .sh(&format!(
            "img-pull --creds {USER}:{PASSWORD} {}/test/derived:1",
            token.host
        ))
        .ok();
    assert_eq!(run.records().len(), 1);
    let issued = token.issuer.as_ref().unwrap().issued.load(SeqCst) - issued_before;
    let requests = token.requests("GET", "/v2/test/derived/");
    assert!(requests >= 2, "{}", token.log());
    assert_eq!(
        issued, 1,
        "one token for one scope, reused for {requests} requests"
    );
    let run = env
        .sh(&format!(
            "img-pull --creds {USER}:nope {}/test/derived:1",
            token.host
        ))
        .code(1);
    assert!(
        run.stderr.contains("incorrect username or password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("nope"));
    env.check_store();
}

/// The big fixture in a fresh registry, and the layer's digest and size.
fn big_registry() -> (Registry, String, u64) {
    let registry = Registry::open_with_big();
    let manifest = big_fixture_manifest();
    let layer = manifest.layers().last().unwrap();
    (registry, layer.digest().to_string(), layer.size())
}

/// Whether the store holds the blob `digest`, and whether a partial
/// download of it is left in the ingest area.
fn blob_and_partial(env: &Env, digest: &str) -> (bool, bool) {
    let hex = digest.trim_start_matches("sha256:");
    let ingest = env.store().join(".img/ingest");
    (
        env.store().join("blobs/sha256").join(hex).exists(),
        ingest.join(format!("partial-{hex}")).exists()
            || ingest.join(format!("partial-{hex}.ranges")).exists(),
    )
}

#[test]
fn pulls_through_cut_stalled_and_corrupting_connections() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let (registry, layer, size) = big_registry();
    let pull = "img-pull {host}/test/big:1".to_string();
    // The big layer is stored whole, and no partial download is left.
    let stored = |env: &Env| assert_eq!(blob_and_partial(env, &layer), (true, false));
    run_fault_cases(
        &registry.host,
        vec![
            FaultCase {
                what: "two connections cut mid-blob: resumed with Range, completes",
                inject: Inject::Tcp(Fault::Cut {
                    after: 5 << 20,
                    times: 2,
                }),
                script: pull.clone(),
                code: 0,
                check: Box::new(|env, _, proxy| {
                    assert_eq!(proxy.tcp().applied.load(SeqCst), 2);
                    stored(env);
                    let blob = env
                        .store()
                        .join("blobs/sha256")
                        .join(layer.trim_start_matches("sha256:"));
                    assert_eq!(std::fs::metadata(blob).unwrap().len(), size);
                    assert!(registry.requests("GET", "/blobs/") >= 3);
                }),
            },
            FaultCase {
                what: "a stalled connection is given up after the stall timeout and resumed",
                inject: Inject::Tcp(Fault::Stall {
                    after: 3 << 20,
                    seconds: 60,
                    times: 1,
                }),
                script: format!("IMG_REGISTRY_TIMEOUT=2 {pull}"),
                code: 0,
                check: Box::new(|env, _, _| stored(env)),
            },
            FaultCase {
                what: "one corrupted byte: the digest check fails, the blob is fetched again",
                inject: Inject::Tcp(Fault::Corrupt {
                    at: 7 << 20,
                    times: 1,
                }),
                script: pull.clone(),
                code: 0,
                check: Box::new(|env, run, _| {
                    assert!(run.stderr.contains("Retrying"), "{}", run.stderr);
                    stored(env);
                }),
            },
            FaultCase {
                // A corrupt download is a failed operation (1), not bad input (2).
                what: "corrupted every time: a clear error, and no unverified blob or name",
                inject: Inject::Tcp(Fault::Corrupt {
                    at: 7 << 20,
                    times: 1000,
                }),
                script: pull.clone(),
                code: 1,
                check: Box::new(|env, run, _| {
                    assert_eq!(
                        run.stderr.lines().filter(|l| l.contains("error")).count(),
                        1,
                        "{}",
                        run.stderr
                    );
                    assert!(run.stderr.contains("digest mismatch"), "{}", run.stderr);
                    // Bytes that hashed wrong are not kept for resuming.
                    assert_eq!(blob_and_partial(env, &layer), (false, false));
                    assert_eq!(env.index()["manifests"].as_array().unwrap().len(), 0);
                }),
            },
        ],
    );
}

#[test]
fn a_killed_pull_continues_in_the_next_run() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let (registry, layer, size) = big_registry();
    let env = Env::new();
    // The proxy passes 48 MiB and then holds every connection: the pull
    // can never finish, so the kill lands mid-blob whatever the machine's
    // speed. The arrived ranges are saved at least every 32 MiB, so the
    // last save before the hold records at least 16 MiB.
    let held = Proxy::start(&registry.host, Fault::Hold { after: 48 << 20 });
    let target = format!("{}/test/big:1", held.host);
    let hex = layer.trim_start_matches("sha256:");
    let run = env.sh(&format!(
        "img-pull {target} 2>/dev/null & pid=$!
         recorded() {{ python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(sum(b-a for a,b in s[\"done\"]))' $STORE/.img/ingest/partial-{hex}.ranges 2>/dev/null || echo 0; }}
         wait_for 120 '[ $(recorded) -ge 16777216 ]'
         kill -9 $pid; wait $pid; echo killed=$? >&2
         cat $STORE/.img/ingest/partial-{hex}.ranges"
    ));
    assert!(run.stderr.contains("killed=137"), "{run:?}");
    let state: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let had: u64 = state["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap())
        .sum();
    assert!((16 << 20..=48 << 20).contains(&had), "{had} of {size}");
    assert_eq!(blob_and_partial(&env, &layer), (false, true));
    env.check_store();
    drop(held);

    // The next pull, through a counting proxy, fetches only the rest.
    let counting = Proxy::start(&registry.host, Fault::None);
    let run = env
        .sh(&format!("img-pull {}/test/big:1", counting.host))
        .ok();
    assert!(run.stderr.contains("Resumed after"), "{}", run.stderr);
    let fetched = counting.downstream.load(SeqCst);
    assert!(
        fetched < size - had + (2 << 20),
        "fetched {fetched} of {size} with {had} already there"
    );
    assert_eq!(blob_and_partial(&env, &layer), (true, false));
    env.check_store();
}

#[test]
fn an_expired_token_is_renewed_on_401() {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let registry = Registry::start(Auth::Token, false);
    registry.skopeo_push(&big_fixture(), "big", "test/big:1");
    let issuer = registry.issuer.as_ref().unwrap();
    // Tokens the registry accepts for about five seconds (it allows 60 s
    // past exp).
    issuer.valid_for.store(-55, SeqCst);
    issuer.latest_exp.store(0, SeqCst);
    let before = issuer.issued.load(SeqCst);
    let refused_before = refused_blob_requests(&registry);
    let env = Env::new();
    // The blob's stream is cut after 20 MiB, and what the client asks next
    // waits at the proxy until every token issued so far has expired: the
    // first request after that is refused with 401 whatever the timing, and
    // the pull must fetch a new token to finish.
    let proxy = Proxy::start(&registry.host, Fault::CutThenHold { after: 20 << 20 });
    std::thread::scope(|scope| {
        let pull = scope.spawn(|| {
            env.sh(&format!(
                "img-pull --creds {USER}:{PASSWORD} {}/test/big:1",
                proxy.host
            ))
        });
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while proxy.applied.load(SeqCst) == 0 {
                assert!(Instant::now() < deadline, "the stream was never cut");
                assert!(!pull.is_finished(), "the pull ended before the cut");
                std::thread::sleep(Duration::from_millis(20));
            }
            issuer.valid_for.store(300, SeqCst);
            let expired_at = issuer.latest_exp.load(SeqCst) + 61;
            let now = || {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64
            };
            assert!(expired_at - now() < 70, "a token outlives the test");
            while now() <= expired_at {
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
        // Whatever happened, let the pull end.
        proxy.release();
        let run = pull.join().unwrap();
        if let Err(panic) = waited {
            std::panic::resume_unwind(panic);
        }
        run.ok();
    });
    let issued = issuer.issued.load(SeqCst) - before;
    assert!(issued >= 2, "issued {issued}");
    assert!(
        refused_blob_requests(&registry) > refused_before,
        "no blob request was refused: {}",
        registry.log()
    );
    env.check_store();
}

/// Blob requests the registry answered 401.
fn refused_blob_requests(registry: &Registry) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains("/blobs/") && l.contains("\" 401 "))
        .count()
}

//! Mirrors and locations from registries.conf, against real registries: a
//! source, a pull-through cache of it (docker-registry's `proxy:` mode), a
//! mirror that is down, and one that serves wrong bytes (the HTTP fault
//! proxy in front of a registry).

use img_tests::http_proxy::{Action, HttpProxy, Rule};
use img_tests::registry::{free_port, Auth, Registry, Setup};
use img_tests::{fixtures, need, peers, Env, Run};

/// Run `script` with `conf` as the registries configuration (and a HOME
/// of its own, so that no user's configuration counts).
fn sh_with_conf(env: &Env, conf: &str, script: &str) -> Run {
    let path = env.path("registries.conf");
    std::fs::write(&path, conf).unwrap();
    std::fs::create_dir_all(env.path("home")).unwrap();
    env.sh(&format!(
        "export CONTAINERS_REGISTRIES_CONF={} HOME={}\n{script}",
        path.display(),
        env.path("home").display()
    ))
}

fn pull_through_cache_of(source: &Registry) -> Registry {
    Registry::start_with(
        Auth::Open,
        Setup {
            proxy_of: Some(format!("http://{}", source.host)),
            ..Setup::default()
        },
    )
}

#[test]
fn pulls_go_through_the_cache_past_a_mirror_that_is_down() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let source = Registry::open();
    source.skopeo_push(&fixtures(), "derived", "test/derived:1");
    let cache = pull_through_cache_of(&source);
    let down = format!("127.0.0.1:{}", free_port());
    let conf = format!(
        r#"
[[registry]]
location = "{src}"

[[registry.mirror]]
location = "{down}"

[[registry.mirror]]
location = "{cache}"
"#,
        src = source.host,
        cache = cache.host
    );
    let image = format!("{}/test/derived:1", source.host);
    let run = sh_with_conf(&env, &conf, &format!("img-pull {image}")).ok();
    // Named as asked, with the source's image ID.
    assert_eq!(
        run.records()[0]["annotations"]["org.opencontainers.image.ref.name"],
        image.as_str()
    );
    env.seed("derived", "fixture");
    assert_eq!(env.id(&image), env.id("fixture"));
    env.check_store();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("WARNING:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains(&format!("mirror {down}"))
            && warnings[0].contains("connection refused")
            && warnings[0].contains(&format!("trying mirror {}", cache.host)),
        "{}",
        warnings[0]
    );
    // img fetched everything from the cache; the source only filled it.
    assert!(cache.img_requests("GET", "/blobs/") >= 2, "{}", cache.log());
    assert_eq!(source.img_requests("GET", "/blobs/"), 0, "{}", source.log());
    assert_eq!(source.img_requests("GET", "/manifests/"), 0);
    assert!(source.requests("GET", "/blobs/") >= 2, "{}", source.log());

    // Again: the cache answers HEAD, nothing is fetched.
    let gets = cache.img_requests("GET", "/blobs/") + cache.img_requests("GET", "/manifests/");
    let run = sh_with_conf(&env, &conf, &format!("img-pull {image}")).ok();
    assert!(
        run.stderr
            .contains(&format!("Status: Image is up to date for {image}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        cache.img_requests("GET", "/blobs/") + cache.img_requests("GET", "/manifests/"),
        gets
    );
    assert_eq!(cache.img_requests("HEAD", "/manifests/1"), 2);
}

#[test]
fn a_mirror_serving_a_wrong_blob_is_passed_over_for_the_source() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let source = Registry::open();
    source.skopeo_push(&fixtures(), "base", "test/base:1");
    let mirror = Registry::open();
    mirror.skopeo_push(&fixtures(), "base", "test/base:1");
    let liar = HttpProxy::start(
        &mirror.host,
        vec![Rule::new("GET", "/blobs/sha256:", 100, Action::Corrupt)],
    );
    let conf = format!(
        "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
        source.host, liar.host
    );
    let image = format!("{}/test/base:1", source.host);
    let run = sh_with_conf(&env, &conf, &format!("img-pull {image}")).ok();
    env.seed("base", "fixture");
    assert_eq!(env.id(&image), env.id("fixture"));
    env.check_store();
    let warning = run
        .stderr
        .lines()
        .find(|l| l.starts_with("WARNING:"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(
        warning.contains(&format!("mirror {}", liar.host))
            && warning.contains("digest")
            && warning.contains(&format!("trying {}", source.host)),
        "{warning}"
    );
    // The mirror was asked, its bytes refused, and the source served them.
    assert!(!liar.requests("GET", "/blobs/").is_empty());
    assert!(
        source.img_requests("GET", "/blobs/") >= 1,
        "{}",
        source.log()
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("WARNING:"))
            .count(),
        1,
        "warned once, the mirror not asked again: {}",
        run.stderr
    );
}

#[test]
fn digest_only_mirrors_serve_what_the_registry_resolved() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let source = Registry::open();
    source.skopeo_push(&fixtures(), "base", "test/base:1");
    let cache = pull_through_cache_of(&source);
    let conf = format!(
        "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\npull-from-mirror = \"digest-only\"\n",
        source.host, cache.host
    );
    let image = format!("{}/test/base:1", source.host);
    sh_with_conf(&env, &conf, &format!("img-pull -q {image}")).ok();
    // The tag was asked of the registry (HEAD, which fetches nothing),
    // the content fetched by digest from the mirror.
    assert_eq!(source.img_requests("HEAD", "/manifests/1"), 1);
    assert_eq!(source.img_requests("GET", "/manifests/"), 0);
    assert_eq!(source.img_requests("GET", "/blobs/"), 0);
    assert_eq!(cache.img_requests("HEAD", "/manifests/1"), 0);
    assert_eq!(cache.img_requests("GET", "/manifests/1"), 0);
    assert!(cache.img_requests("GET", "/manifests/sha256:") >= 1);
    assert!(cache.img_requests("GET", "/blobs/") >= 2);
    env.check_store();
}

#[test]
fn locations_rewrite_pulls_and_pushes_never_go_to_mirrors() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "internal/team/app:1");
    let mirror = Registry::open();
    let conf = format!(
        "[[registry]]\nprefix = \"example.com/team\"\nlocation = \"{}/internal/team\"\n[[registry.mirror]]\nlocation = \"{}/cache\"\n",
        registry.host, mirror.host
    );
    let run = sh_with_conf(&env, &conf, "img-pull example.com/team/app:1").ok();
    assert!(
        run.stderr.contains("manifest unknown") && run.stderr.contains(&mirror.host),
        "the empty mirror was asked first: {}",
        run.stderr
    );
    env.seed("base", "fixture");
    assert_eq!(env.id("example.com/team/app:1"), env.id("fixture"));

    let run = sh_with_conf(
        &env,
        &conf,
        "img-tag example.com/team/app:1 example.com/team/app:2 >/dev/null && img-push -q example.com/team/app:2",
    )
    .ok();
    assert_eq!(
        run.records()[0]["annotations"]["org.opencontainers.image.ref.name"],
        "example.com/team/app:2"
    );
    env.sh(&format!(
        "skopeo inspect --tls-verify=false docker://{}/internal/team/app:2 >/dev/null",
        registry.host
    ))
    .ok();
    assert_eq!(mirror.requests("PUT", "/"), 0, "{}", mirror.log());
    assert_eq!(mirror.requests("POST", "/"), 0, "{}", mirror.log());
}

#[test]
fn blocked_registries_are_refused() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    env.seed("base", "mine:1");
    let conf = format!(
        "[[registry]]\nlocation = \"{}\"\nblocked = true\n",
        registry.host
    );
    let before = env.index_bytes();
    let host = &registry.host;
    // img-run fails as docker run does when it cannot start (125).
    for (script, code) in [
        (format!("img-pull {host}/test/base:1"), 1),
        (format!("img-push mine:1 --to {host}/test/base:2"), 1),
        (format!("img-search --registry {host} base"), 1),
        (
            format!("img-run --rm --pull always {host}/test/base:1 true"),
            125,
        ),
    ] {
        let run = sh_with_conf(&env, &conf, &script).code(code);
        assert_eq!(run.stderr.lines().count(), 1, "{script}: {}", run.stderr);
        assert!(
            run.stderr.contains("is blocked")
                && run
                    .stderr
                    .contains(&env.path("registries.conf").display().to_string()),
            "{script}: {}",
            run.stderr
        );
    }
    assert_eq!(env.index_bytes(), before);
    assert_eq!(registry.img_requests("GET", "/"), 0);
    assert_eq!(registry.img_requests("HEAD", "/"), 0);
}

#[test]
fn a_malformed_registries_conf_is_refused_with_its_file_and_line() {
    let env = Env::new();
    env.seed("base", "mine:1");
    let conf = "[[registry]]\nlocation = \"a.example\"\n\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"sometimes\"\n";
    let file = env.path("registries.conf").display().to_string();
    for (script, code) in [
        ("img-pull a.example/x:1", 2),
        ("img-push mine:1 --to a.example/x:1", 2),
        ("img-search --registry a.example x", 2),
        ("img-build -q - <<<'FROM a.example/x:1'", 2),
        ("img-run --rm mine:1 true", 125),
    ] {
        let run = sh_with_conf(&env, conf, script).code(code);
        assert_eq!(run.stderr.lines().count(), 1, "{script}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{file}:6: pull-from-mirror \"sometimes\"")),
            "{script}: {}",
            run.stderr
        );
    }
    let run = env
        .sh("CONTAINERS_REGISTRIES_CONF=/nonexistent/registries.conf img-pull a.example/x:1")
        .code(1);
    assert!(
        run.stderr.contains("/nonexistent/registries.conf"),
        "{}",
        run.stderr
    );
}

#[test]
fn registry_mirror_flag_mirrors_docker_hub_for_one_run() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let mirror = Registry::open();
    mirror.skopeo_push(&fixtures(), "base", "library/busybox:1.36");
    // No network here: docker.io itself cannot be reached, the mirror can.
    let run = sh_with_conf(
        &env,
        "",
        &format!(
            "img-pull --registry-mirror http://{} busybox:1.36",
            mirror.host
        ),
    )
    .ok();
    assert_eq!(
        run.records()[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/busybox:1.36"
    );
    assert!(mirror.img_requests("GET", "/v2/library/busybox/blobs/") >= 2);
    env.check_store();
    let run = sh_with_conf(
        &env,
        "",
        "img-pull --registry-mirror ftp://x.example busybox",
    )
    .code(2);
    assert!(run.stderr.contains("--registry-mirror"), "{}", run.stderr);
}

#[test]
fn search_asks_the_unqualified_search_registries() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let one = Registry::open();
    one.skopeo_push(&fixtures(), "base", "team/webapp:1");
    let two = Registry::open();
    two.skopeo_push(&fixtures(), "base", "other/webapp-cache:1");
    two.skopeo_push(&fixtures(), "base", "other/db:1");
    let down = format!("127.0.0.1:{}", free_port());
    let conf = format!(
        "unqualified-search-registries = [\"{}\", \"{down}\", \"{}\"]\n",
        one.host, two.host
    );
    let run = sh_with_conf(&env, &conf, "img-search webapp").ok();
    let names: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            format!("{}/team/webapp", one.host),
            format!("{}/other/webapp-cache", two.host)
        ]
    );
    assert!(
        run.stderr
            .starts_with(&format!("WARNING: searching {down}")),
        "{}",
        run.stderr
    );
}

#[test]
fn push_all_tags_pushes_every_tag_of_the_repository() {
    if !need(peers::REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    env.seed("base", &format!("{host}/team/app:1"));
    env.seed("derived", &format!("{host}/team/app:2"));
    env.seed("other", &format!("{host}/team/other:1"));
    let run = env.sh(&format!("img-push -q -a {host}/team/app")).ok();
    let names: Vec<String> = run
        .records()
        .iter()
        .map(|r| {
            r["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [format!("{host}/team/app:1"), format!("{host}/team/app:2")]
    );
    let tags = env
        .sh(&format!("img-search --tags {host}/team/app | sort"))
        .ok();
    assert_eq!(tags.stdout, "1\n2\n");
    let run = env.sh(&format!("img-push -a {host}/team/app:1")).code(2);
    assert!(
        run.stderr.contains("tag can't be used with --all-tags/-a"),
        "{}",
        run.stderr
    );
    let run = env.sh(&format!("img-push -a {host}/team/nothing")).code(1);
    assert!(
        run.stderr.contains("no image in the store"),
        "{}",
        run.stderr
    );
}

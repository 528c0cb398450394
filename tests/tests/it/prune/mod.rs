//! img-prune: which images go (dangling, -a, until=, label=, label!=), the
//! confirmation and Docker's report; the store's own cleaning (unreachable
//! blobs, abandoned ingest files, old partial downloads, held ones kept)
//! is in `store.rs`.

use std::collections::BTreeMap;

use img_tests::{assert_golden, need, on_terminal, peers, Env};

mod store;

/// The blobs in the store with their sizes.
fn blobs(env: &Env) -> BTreeMap<String, u64> {
    std::fs::read_dir(env.store().join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                format!("sha256:{}", e.file_name().to_string_lossy()),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

/// Bytes of the blobs in `before` that are gone now.
fn freed(env: &Env, before: &BTreeMap<String, u64>) -> u64 {
    let now = blobs(env);
    before
        .iter()
        .filter(|(d, _)| !now.contains_key(*d))
        .map(|(_, s)| s)
        .sum()
}

/// Docker's `Total reclaimed space:` for `bytes`.
fn human(bytes: u64) -> String {
    img_core::format::human_size_precision(bytes, 4)
}

/// `REPOSITORY:TAG` of every listed image, in img-ls order.
fn names(env: &Env) -> Vec<String> {
    env.sh("img-ls --format '{{.Repository}}:{{.Tag}}'")
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect()
}

/// The chain IDs of `image`'s layers, bottom first: how Docker (and img)
/// name deleted layers.
fn chain_ids(env: &Env, image: &str) -> Vec<String> {
    let run = env
        .sh(&format!(
            "img-inspect -f '{{{{json .RootFS.Layers}}}}' {image}"
        ))
        .ok();
    let diff_ids: Vec<String> = serde_json::from_str(&run.stdout).unwrap();
    let mut chain: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id,
            Some(parent) => {
                img_core::digest::of_bytes(format!("{parent} {diff_id}").as_bytes()).to_string()
            }
        };
        chain.push(next);
    }
    chain
}

/// base as busybox, derived as derived:v1, and a dangling image: the old
/// `other`, whose name moved to derived.
fn store_with_dangling() -> Env {
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived:v1");
    env.seed("other", "other");
    env
}

#[test]
fn removes_dangling_images_and_keeps_named_ones() {
    if !need(peers::STORE) {
        return;
    }
    let env = store_with_dangling();
    let other_id = env.id("other");
    let other_layer = chain_ids(&env, "other").remove(0);
    env.sh("img-tag derived:v1 other").ok();
    let before = blobs(&env);
    let run = env.sh("img-prune -f").ok();
    let total = freed(&env, &before);
    assert_eq!(
        total,
        before.values().sum::<u64>() - blobs(&env).values().sum::<u64>()
    );
    assert_golden(
        "prune-dangling.txt",
        &run.stdout,
        &[
            (&other_id, "{other-id}"),
            (&other_layer, "{other-layer}"),
            (&human(total), "{total}"),
        ],
    );
    assert_eq!(
        run.stdout,
        format!(
            "Deleted Images:\ndeleted: {other_id}\ndeleted: {other_layer}\n\nTotal reclaimed space: {}\n",
            human(total)
        )
    );
    // the old other's manifest, config and layer went; nothing else
    assert_eq!(before.len() - blobs(&env).len(), 3);
    assert_eq!(
        names(&env),
        ["derived:v1", "other:latest", "busybox:latest"]
    );
    env.check_store();
    // nothing left to prune
    let run = env.sh("img-prune -f").ok();
    assert_eq!(run.stdout, "Total reclaimed space: 0B\n");
    env.check_store();
}

#[test]
fn content_another_image_builds_on_is_kept() {
    if !need(peers::STORE) {
        return;
    }
    // busybox is named and derived builds on it: both stay.
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived:v1");
    let before = blobs(&env);
    let run = env.sh("img-prune -f").ok();
    assert_eq!(run.stdout, "Total reclaimed space: 0B\n");
    assert_eq!(blobs(&env), before);
    env.check_store();
    // The base loses its name: it is dangling (img-ls says so too; img keeps
    // no parent chain), and goes, but the layer derived builds on stays.
    let base_id = env.id("busybox");
    let base_layer = env.layers("busybox").remove(0);
    env.sh("img-tag derived:v1 busybox").ok();
    let dangling = env.sh("img-ls -q --no-trunc --filter dangling=true").ok();
    assert_eq!(dangling.stdout.trim(), base_id);
    let run = env.sh("img-prune -f").ok();
    assert!(
        run.stdout
            .starts_with(&format!("Deleted Images:\ndeleted: {base_id}\n\n")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(&base_layer), "{}", run.stdout);
    assert!(env
        .store()
        .join("blobs")
        .join(base_layer.replace(':', "/"))
        .exists());
    env.sh("img-export derived:v1 > d.tar && tar -tf d.tar > list && grep -q hello.txt list && grep -q bin/busybox list")
        .ok();
    env.check_store();
}

#[test]
fn all_removes_every_image_with_its_names() {
    if !need(peers::STORE) {
        return;
    }
    let env = store_with_dangling();
    env.seed_all("multi", "multi");
    env.sh("img-tag busybox mybusybox && img-tag derived:v1 other")
        .ok();
    let ids = [
        (env.id("derived:v1"), "{derived-id}"),
        (env.id("busybox"), "{base-id}"),
        (
            env.sh("img-ls --json multi | jq -r .digest")
                .ok()
                .stdout
                .trim()
                .to_string(),
            "{multi-digest}",
        ),
        (
            env.sh("img-ls -q --no-trunc --filter dangling=true")
                .ok()
                .stdout
                .trim()
                .to_string(),
            "{dangling-id}",
        ),
    ];
    let derived_layers = chain_ids(&env, "derived:v1");
    let other_layer = chain_ids(&env, &ids[3].0).remove(0);
    let before = blobs(&env);
    let run = env.sh("img-prune -a -f").ok();
    let total: u64 = before.values().sum();
    let mut subs: Vec<(String, &str)> = ids.to_vec();
    subs.push((derived_layers[0].clone(), "{base-layer}"));
    subs.push((derived_layers[1].clone(), "{derived-layer}"));
    subs.push((other_layer, "{other-layer}"));
    subs.push((human(total), "{total}"));
    let subs: Vec<(&str, &str)> = subs.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    assert_golden("prune-all.txt", &run.stdout, &subs);
    assert!(blobs(&env).is_empty(), "every blob went: {:?}", blobs(&env));
    assert!(names(&env).is_empty());
    env.check_store();
}

#[test]
fn until_takes_timestamps_and_durations() {
    if !need(peers::STORE) {
        return;
    }
    // base 2026-11-01T10:00Z, derived 2026-11-08T10:00Z, other
    // 2026-10-01T10:00Z; IMG_NOW is 2026-11-22T12:00Z.
    let fresh = || {
        let env = Env::new();
        env.seed("base", "busybox");
        env.seed("derived", "derived");
        env.seed("other", "other");
        env
    };
    for until in [
        "2026-11-05T00:00:00Z",
        "2026-11-05",
        "2026-11-05T01:00:00+01:00",
        "$(date -d 2026-11-05T00:00:00Z +%s)",
        "340h",
    ] {
        let env = fresh();
        let run = env
            .sh(&format!("img-prune -a -f --filter until={until}"))
            .ok();
        assert!(
            run.stdout.contains("untagged: busybox:latest\n"),
            "{until}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("untagged: other:latest\n"),
            "{until}: {}",
            run.stdout
        );
        assert_eq!(names(&env), ["derived:latest"], "until={until}");
        env.check_store();
    }
    // created exactly at `until` is pruned; a minute later is kept
    let env = fresh();
    env.sh("img-prune -a -f --filter until=2026-11-01T10:00:00Z")
        .ok();
    assert_eq!(names(&env), ["derived:latest"]);
    let env = fresh();
    env.sh("img-prune -a -f --filter until=2026-11-01T09:59:00Z")
        .ok();
    assert_eq!(names(&env), ["derived:latest", "busybox:latest"]);
    env.check_store();
    // 24h back from IMG_NOW: everything is older
    let env = fresh();
    env.sh("img-prune -a -f --filter until=24h").ok();
    assert!(names(&env).is_empty());
    env.check_store();
    // images made now are newer than 10m ago and stay
    let env = fresh();
    env.sh(
        "mkdir r && echo x > r/x && tar -C r -c . > r.tar \
         && SOURCE_DATE_EPOCH=$(date -d 2026-11-22T11:55:00Z +%s) img-import r.tar new:1 >/dev/null",
    )
    .ok();
    env.sh("img-prune -a -f --filter until=10m").ok();
    assert_eq!(names(&env), ["new:1"]);
    env.check_store();
}

#[test]
fn label_filters_both_forms() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.sh("mkdir r && echo x > r/x && tar -C r -c . > r.tar \
         && img-import -c 'LABEL stage=build' r.tar a:1 \
         && img-import -c 'LABEL stage=build keep=yes' r.tar b:1 \
         && img-import -c 'LABEL stage=test' r.tar c:1 \
         && img-import r.tar d:1")
        .ok();
    let all = |env: &Env| {
        let mut n = names(env);
        n.sort();
        n
    };
    assert_eq!(all(&env), ["a:1", "b:1", "c:1", "d:1"]);
    env.sh("img-prune -a -f --filter label=stage=build --filter label!=keep")
        .ok();
    assert_eq!(all(&env), ["b:1", "c:1", "d:1"]);
    env.check_store();
    env.sh("img-prune -a -f --filter label!=stage=build --filter label=stage")
        .ok();
    assert_eq!(all(&env), ["b:1", "d:1"]);
    env.check_store();
    env.sh("img-prune -a -f --filter label=keep").ok();
    assert_eq!(all(&env), ["d:1"]);
    env.sh("img-prune -a -f --filter label!=stage").ok();
    assert!(all(&env).is_empty());
    env.check_store();
    // the fixtures' own labels, and dangling images with them
    env.seed("derived", "derived");
    env.seed("other", "other");
    env.sh("img-tag other derived").ok();
    let run = env.sh("img-prune -f --filter label=app=demo").ok();
    assert!(
        run.stdout.starts_with("Deleted Images:\n"),
        "{}",
        run.stdout
    );
    assert_eq!(names(&env), ["derived:latest", "other:latest"]);
    env.check_store();
}

#[test]
fn asks_first_and_refuses_without_a_terminal() {
    if !need(peers::STORE) {
        return;
    }
    let env = store_with_dangling();
    env.sh("img-tag derived:v1 other").ok();
    let index = env.index_bytes();
    let before = blobs(&env);
    for script in [
        "img-prune",
        "echo y | img-prune",
        "img-prune -a < /dev/null",
    ] {
        let run = env.sh(script).code(2);
        assert_eq!(
            run.stderr,
            "img-prune: error: stdin is not a terminal, so nobody can confirm: add -f to prune without asking\n",
            "{script}"
        );
        assert_eq!(run.stdout, "");
    }
    let run = env.sh("img-prune -f --filter until=soon").code(2);
    assert!(
        run.stderr
            .starts_with("img-prune: error: invalid value for 'until' filter"),
        "{}",
        run.stderr
    );
    let run = env.sh("img-prune -f --filter dangling=false").code(2);
    assert!(
        run.stderr.contains("invalid filter 'dangling'"),
        "{}",
        run.stderr
    );
    assert_eq!(env.index_bytes(), index, "a refusal changes nothing");
    assert_eq!(blobs(&env), before);
    env.check_store();
    if !need(&["python3"]) {
        return;
    }
    // On a terminal: Docker's question, and only y prunes.
    let question = "WARNING! This will remove all dangling images.\r\nAre you sure you want to continue? [y/N] ";
    let run = env.sh(&on_terminal("[y/N] ", "n", "img-prune")).ok();
    assert!(run.stdout.contains(question), "{:?}", run.stdout);
    assert!(
        !run.stdout.contains("Total reclaimed space"),
        "{:?}",
        run.stdout
    );
    assert_eq!(env.index_bytes(), index);
    let run = env.sh(&on_terminal("[y/N] ", "y", "img-prune")).ok();
    assert!(run.stdout.contains(question), "{:?}", run.stdout);
    assert!(
        run.stdout.contains("Deleted Images:\r\ndeleted: "),
        "{:?}",
        run.stdout
    );
    assert!(names(&env).len() == 3 && blobs(&env).len() == before.len() - 3);
    let run = env.sh(&on_terminal("[y/N] ", "N", "img-prune -a")).ok();
    assert!(
        run.stdout.contains("WARNING! This will remove all images without at least one container associated to them.\r\nAre you sure you want to continue? [y/N] "),
        "{:?}",
        run.stdout
    );
    assert_eq!(names(&env).len(), 3);
    env.check_store();
}

/// `img-prune --system` is `docker system prune`: stopped containers,
/// dangling images and the unused build cache, after Docker's list of what
/// goes.
#[test]
fn system_prunes_containers_dangling_images_and_unused_build_cache() {
    if !need(&["skopeo", "umoci", "busybox", "runc", "python3"]) {
        return;
    }
    let env = store_with_dangling();
    env.sh("img-tag derived:v1 other").ok();
    env.sh("img-run --name stopped busybox sh -c true").ok();
    let container = env
        .sh("img-ls --containers -q --no-trunc")
        .ok()
        .stdout
        .trim()
        .to_string();
    // a cached step whose image is gone (its layer is unreachable), and a
    // RUN cache mount
    env.sh(
        "mkdir ctx && echo hi > ctx/f && printf 'FROM busybox\\nCOPY f /f\\n' > ctx/Dockerfile \
            && img-build -q -t gone:1 ctx >/dev/null && img-rm --no-prune gone:1 >/dev/null \
            && mkdir -p $STORE/.img/build-mounts/m1 && echo x > $STORE/.img/build-mounts/m1/f",
    )
    .ok();
    let index = env.index_bytes();
    let run = env.sh("img-prune --system").code(2);
    assert!(run.stderr.contains("add -f"), "{}", run.stderr);
    assert_eq!(env.index_bytes(), index, "a refusal changes nothing");
    let question = "WARNING! This will remove:\r\n  - all stopped containers\r\n  - all dangling images\r\n  - unused build cache\r\n\r\nAre you sure you want to continue? [y/N] ";
    let run = env
        .sh(&on_terminal("[y/N] ", "n", "img-prune --system"))
        .ok();
    assert!(run.stdout.contains(question), "{:?}", run.stdout);
    assert_eq!(env.index_bytes(), index);
    let run = env.sh("img-prune --system -f").ok();
    let out = &run.stdout;
    assert!(
        out.starts_with(&format!(
            "Deleted Containers:\n{container}\n\nDeleted Images:\ndeleted: "
        )),
        "{out}"
    );
    let cache = out
        .split("Deleted build cache objects:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no build cache in {out}"));
    let cache: Vec<&str> = cache.lines().take_while(|l| !l.is_empty()).collect();
    assert!(cache.contains(&"m1"), "{out}");
    assert!(
        cache.iter().any(|id| id.len() == 64),
        "the cached COPY step: {out}"
    );
    assert!(out.contains("\n\nTotal reclaimed space: "), "{out}");
    assert_eq!(env.sh("img-ls --containers -q").ok().stdout, "");
    assert_eq!(
        names(&env),
        ["derived:v1", "other:latest", "busybox:latest"]
    );
    // the step is made anew
    let run = env.sh("img-build -t again:1 ctx").ok();
    assert!(!run.stderr.contains("Using cache"), "{}", run.stderr);
    env.check_store();
}

//! An index inside an index (issue 11, defect 7): img reads an index of
//! image manifests, one level deep as `docker pull` does, and refuses a
//! deeper one where it is found, saying what it found — a chain of 300
//! indexes, or one that lists itself, through img-load and img-pull alike.

use std::path::Path;

use img_tests::archive::snapshot;
use img_tests::registry::Registry;
use img_tests::{need, peers, Env};
use serde_json::{json, Value};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Write `value` as a blob of the layout at `dir`; its descriptor.
fn put_blob(dir: &Path, media_type: &str, value: &Value) -> Value {
    let bytes = serde_json::to_vec(value).unwrap();
    let digest = img_core::digest::of_bytes(&bytes);
    std::fs::write(dir.join("blobs/sha256").join(digest.digest()), &bytes).unwrap();
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()})
}

/// An index of one entry, `child`, for linux/amd64.
fn index_of(child: &Value) -> Value {
    let mut entry = child.clone();
    entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]})
}

/// A copy of the fixtures at `L` in `env`, and the descriptor of `base`.
fn layout_with_base(env: &Env) -> (std::path::PathBuf, Value) {
    env.sh("cp -r $FIXTURES L && chmod -R u+w L").ok();
    let dir = env.path("L");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let base = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "base")
        .unwrap();
    let descriptor =
        json!({"mediaType": base["mediaType"], "digest": base["digest"], "size": base["size"]});
    (dir, descriptor)
}

/// `depth` indexes, each listing the next, the last listing `base`;
/// returns every index's descriptor, outermost first.
fn chain(dir: &Path, base: &Value, depth: usize) -> Vec<Value> {
    let mut chain = vec![base.clone()];
    for _ in 0..depth {
        let inner = chain.last().unwrap().clone();
        chain.push(put_blob(dir, INDEX, &index_of(&inner)));
    }
    chain.reverse();
    chain.pop();
    chain
}

/// Make `dir`'s index.json name `top` alone, and tar the layout as `tar`.
fn archive(env: &Env, dir: &Path, top: &Value, tar: &str) {
    let mut entry = top.clone();
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": "nested:1"});
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    env.sh(&format!("tar -C {} -cf {tar} .", dir.display()))
        .ok();
}

/// `img-load` of `tar` fails with exit 2, one line that says `says`, and
/// the store as it was.
fn refused_load(env: &Env, tar: &str, says: &str) {
    let before = snapshot(&env.store());
    let run = env.sh(&format!("img-load -i {tar}")).code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("img-load: error: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(says), "wanted {says:?}: {}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(snapshot(&env.store()), before, "the store changed");
}

#[test]
fn img_load_refuses_a_chain_of_indexes_and_one_that_lists_itself() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("other", "other");
    let (dir, base) = layout_with_base(&env);
    // A chain of 300: refused at the first nesting, which is named.
    let indexes = chain(&dir, &base, 300);
    archive(&env, &dir, &indexes[0], "chain.tar");
    let (outer, inner) = (&indexes[0]["digest"], &indexes[1]["digest"]);
    refused_load(
        &env,
        "chain.tar",
        &format!(
            "index {} lists another index, {} (for linux/amd64): img reads an index of image manifests, one level deep",
            outer.as_str().unwrap(),
            inner.as_str().unwrap()
        ),
    );
    // One index in an index, the shallowest nesting, is refused alike.
    let two = chain(&dir, &base, 2);
    archive(&env, &dir, &two[0], "two.tar");
    refused_load(&env, "two.tar", "lists another index");
    // An index that lists itself: its entry's blob is a link to it, and
    // the size the entry declares is the index's own (found by trying).
    let name = "ab".repeat(32);
    let entry = |size: usize| {
        index_of(&json!({"mediaType": INDEX, "digest": format!("sha256:{name}"), "size": size}))
    };
    let size = (1..10_000)
        .find(|&n| serde_json::to_vec(&entry(n)).unwrap().len() == n)
        .unwrap();
    let looped = put_blob(&dir, INDEX, &entry(size));
    let hex = looped["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    std::os::unix::fs::symlink(&hex, dir.join("blobs/sha256").join(&name)).unwrap();
    archive(&env, &dir, &looped, "self.tar");
    refused_load(
        &env,
        "self.tar",
        &format!("index sha256:{hex} lists itself (for linux/amd64)"),
    );
    // The one-level index every tool makes still loads.
    let one = chain(&dir, &base, 1);
    archive(&env, &dir, &one[0], "one.tar");
    env.sh("img-load -q -i one.tar && img-inspect -f '{{.Os}}' nested:1")
        .ok();
    env.check_store();
}

#[test]
fn img_pull_refuses_a_chain_of_indexes_from_the_registry() {
    if !need(&["docker-registry", "skopeo", "umoci", "busybox", "curl"]) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    registry.skopeo_push(&img_tests::fixtures(), "base", "test/chain:base");
    let (dir, base) = layout_with_base(&env);
    let indexes = chain(&dir, &base, 300);
    // Innermost first (the registry accepts an index whose entries it
    // has), in one curl that keeps its connection.
    let mut puts = Vec::new();
    for (i, index) in indexes.iter().enumerate().rev() {
        let digest = index["digest"].as_str().unwrap();
        let reference = if i == 0 { "1" } else { digest };
        puts.push(format!(
            "fail\nsilent\nrequest = PUT\nheader = \"Content-Type: {INDEX}\"\n\
             data-binary = \"@L/blobs/sha256/{}\"\noutput = /dev/null\n\
             url = \"http://{host}/v2/test/chain/manifests/{reference}\"\n",
            digest.trim_start_matches("sha256:")
        ));
    }
    std::fs::write(env.path("puts"), puts.join("next\n")).unwrap();
    env.sh("curl -K puts").ok();
    // An index whose entry says "image manifest" where the registry holds
    // an index under that digest.
    let mut liar = indexes[299].clone();
    liar["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    let lying = put_blob(&dir, INDEX, &index_of(&liar));
    env.sh(&format!(
        "curl -sf -X PUT -H 'Content-Type: {INDEX}' --data-binary @L/blobs/sha256/{} http://{host}/v2/test/chain/manifests/liar >/dev/null",
        lying["digest"].as_str().unwrap().trim_start_matches("sha256:")
    ))
    .ok();
    env.sh("img-ls -q").ok();
    let before = env.index_bytes();
    let (outer, inner) = (
        indexes[0]["digest"].as_str().unwrap(),
        indexes[1]["digest"].as_str().unwrap(),
    );
    for (args, says) in [
        (
            format!("{host}/test/chain:1"),
            format!("index {outer} lists another index, {inner} (for linux/amd64)"),
        ),
        (
            format!("--all-platforms {host}/test/chain:1"),
            format!("index {outer} lists another index, {inner}"),
        ),
        (
            format!("{host}/test/chain@{outer}"),
            format!("index {outer} lists another index, {inner}"),
        ),
        (
            format!("{host}/test/chain:liar"),
            format!(
                "index {} lists another index, {}",
                lying["digest"].as_str().unwrap(),
                indexes[299]["digest"].as_str().unwrap()
            ),
        ),
    ] {
        let run = env.sh(&format!("img-pull {args}")).code(1);
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{args}: {}", run.stderr);
        assert!(
            errors[0].starts_with("img-pull: error: pulling "),
            "{}",
            run.stderr
        );
        assert!(
            errors[0].contains(&says),
            "{args}: wanted {says:?}: {}",
            run.stderr
        );
        assert!(
            errors[0].contains("does not follow an index inside an index"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{args}");
        assert_eq!(env.index_bytes(), before, "{args} named something");
    }
    // The registry's one-level index of the same image pulls.
    let script = format!(
        "curl -sf -X PUT -H 'Content-Type: {INDEX}' --data-binary @L/blobs/sha256/{} http://{host}/v2/test/chain/manifests/one >/dev/null",
        indexes[299]["digest"].as_str().unwrap().trim_start_matches("sha256:")
    );
    env.sh(&script).ok();
    env.sh(&format!("img-pull -q {host}/test/chain:one")).ok();
    env.check_store();
}

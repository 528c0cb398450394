//! A waiting img-prune is not starved by new writers, and waits for the
//! old ones only so long (the gc lock protocol of `store/gclock.rs`).
//! Deterministic: the writer already in is an img-load whose archive is
//! held back until the test releases it, and what is checked is the order
//! in which the programs finished, never how long they took.

use img_tests::{need, Env};

const PEERS: &[&str] = &["skopeo", "umoci", "flock"];

/// A script that starts an img-load (writer A) holding the store until
/// `release` is run, an img-prune once A is in, and an img-tag (writer B)
/// once the prune waits; each appends `NAME STATUS` to `order` when it
/// ends. `$1` is what runs before the prune (environment assignments).
const SCENE: &str = r#"
wait_for() {  # wait_for WHAT CONDITION: poll, with a deadline of 30 s
  for _ in $(seq 3000); do eval "$2" && return 0; sleep 0.01; done
  echo "timed out waiting for $1" >&2; exit 99
}
img-save -o a.tar busybox
mkfifo in
exec 7<>in
(img-load -q <in >load.out 2>load.err; echo "load $?" >>order) &
head -c 10240 a.tar >&7
wait_for "img-load to hold the store" '! flock -n -x $STORE/.img/lock/gc true'
(env $PRUNE_ENV img-prune -f >prune.out 2>prune.err; echo "prune $?" >>order) &
wait_for "img-prune to wait" 'grep -q waiting prune.err'
(img-tag busybox later:1 >tag.out 2>tag.err; echo "tag $?" >>order) &
wait_for "img-tag to queue (or end)" 'grep -q waiting tag.err || grep -q "^tag" order 2>/dev/null'
release() { tail -c +10241 a.tar >&7; exec 7>&-; }
"#;

fn scene(env: &Env, prune_env: &str, rest: &str) -> img_tests::Run {
    env.sh(&format!("PRUNE_ENV='{prune_env}'\n{SCENE}\n{rest}"))
}

fn order(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn writers_that_come_after_a_waiting_prune_queue_behind_it() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("other", "other");
    // A dangling image for the prune to remove.
    env.sh("img-tag other keep && img-rm other >/dev/null && img-tag busybox keep")
        .ok();
    scene(
        &env,
        "",
        "release; for _ in 1 2 3; do wait -n; done; wait_for 'all three' '[ $(wc -l <order) = 3 ]'",
    )
    .ok();
    let tag_err = std::fs::read_to_string(env.path("tag.err")).unwrap();
    assert!(
        tag_err.contains("img-tag: waiting for img-prune (pid "),
        "the new writer queued behind the prune: {tag_err:?}"
    );
    let order = order(&env);
    let at = |line: &str| order.iter().position(|l| l == line);
    assert!(at("load 0").is_some(), "{order:?}");
    assert!(
        at("prune 0").is_some() && at("prune 0") < at("tag 0"),
        "the prune ran before the writer that came after it: {order:?}"
    );
    let prune_out = std::fs::read_to_string(env.path("prune.out")).unwrap();
    assert!(prune_out.contains("deleted: sha256:"), "{prune_out}");
    env.sh("img-inspect later:1 >/dev/null").ok();
    env.check_store();
}

#[test]
fn a_prune_that_waits_too_long_gives_up_and_lets_writers_through() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // The tag goes through while img-load still holds the store: the prune
    // gave up (after IMG_GC_WAIT) and opened the queue.
    scene(
        &env,
        "IMG_GC_WAIT=0.5",
        "wait_for 'the tag' 'grep -q ^tag order'; release; wait; wait_for 'all three' '[ $(wc -l <order) = 3 ]'",
    )
    .ok();
    assert_eq!(order(&env), ["prune 1", "tag 0", "load 0"]);
    let prune_err = std::fs::read_to_string(env.path("prune.err")).unwrap();
    assert!(
        prune_err.contains(
            "img-prune: error: collecting garbage: gave up after 0.5 s waiting for the programs \
             writing to the store to finish (img-load (pid "
        ),
        "{prune_err}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("prune.out")).unwrap(),
        "Total reclaimed space: 0B\n"
    );
    env.check_store();
}

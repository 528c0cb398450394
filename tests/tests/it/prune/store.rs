//! img-prune's cleaning of the store itself: blobs no image reaches,
//! abandoned ingest files, old partial downloads (one a pull holds is
//! kept), and the wait for running writers.

use super::*;

#[test]
fn unreachable_blobs_are_removed_and_counted() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // a blob no image reaches, stored with its right digest, and another
    // left by skopeo: an image whose name was taken away by hand
    env.sh("printf 'left behind' > f && cp f $STORE/blobs/sha256/$(sha256sum f | cut -c1-64)")
        .ok();
    let orphan = env
        .sh("sha256sum f | cut -c1-64")
        .ok()
        .stdout
        .trim()
        .to_string();
    let before = blobs(&env);
    let run = env.sh("img-prune -f").ok();
    assert_eq!(
        run.stdout,
        format!("Deleted Images:\ndeleted: sha256:{orphan}\n\nTotal reclaimed space: 11B\n")
    );
    assert_eq!(freed(&env, &before), 11);
    assert_eq!(names(&env), ["busybox:latest"]);
    env.check_store();
    // skopeo writes an image; its name is removed behind img's back
    env.sh("skopeo copy -q oci:$FIXTURES:other oci:$STORE:other")
        .ok();
    env.sh("jq -c '.manifests |= map(select(.annotations[\"org.opencontainers.image.ref.name\"] != \"other\"))' $STORE/index.json > i && mv i $STORE/index.json")
        .ok();
    let before = blobs(&env);
    let run = env.sh("img-prune -f").ok();
    let total = freed(&env, &before);
    assert_eq!(before.len() - blobs(&env).len(), 3);
    assert!(run
        .stdout
        .ends_with(&format!("\n\nTotal reclaimed space: {}\n", human(total))));
    assert_eq!(
        run.stdout.matches("deleted: sha256:").count(),
        3,
        "{}",
        run.stdout
    );
    env.check_store();
}

/// Make a partial download of `size` bytes (a third of them done) in the
/// ingest area, as img-pull leaves one, last written `age` ago (`touch -d`).
fn partial(env: &Env, hex: &str, size: u64, age: &str) {
    let ingest = env.store().join(".img/ingest");
    std::fs::create_dir_all(&ingest).unwrap();
    let data = ingest.join(format!("partial-{hex}"));
    std::fs::write(&data, vec![7u8; size as usize / 3]).unwrap();
    let state = ingest.join(format!("partial-{hex}.ranges"));
    std::fs::write(
        &state,
        format!("{{\"size\":{size},\"done\":[[0,{}]]}}", size / 3),
    )
    .unwrap();
    env.sh(&format!(
        "touch -d '{age}' {} {}",
        data.display(),
        state.display()
    ))
    .ok();
}

fn ingest_files(env: &Env) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(env.store().join(".img/ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn size_of(env: &Env, hex: &str) -> u64 {
    let ingest = env.store().join(".img/ingest");
    ["", ".ranges"]
        .iter()
        .map(|s| {
            std::fs::metadata(ingest.join(format!("partial-{hex}{s}")))
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn old_partial_downloads_go_and_fresh_ones_stay() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let (old, young, fresh) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    partial(&env, &old, 30000, "25 hours ago");
    partial(&env, &young, 3000, "23 hours ago");
    partial(&env, &fresh, 3000, "now");
    // an abandoned temporary blob of a crashed writer, and a state file
    // whose download is gone
    std::fs::write(env.store().join(".img/ingest/blob-abandoned"), b"12345").unwrap();
    let lone = env
        .store()
        .join(format!(".img/ingest/partial-{}.ranges", "d".repeat(64)));
    std::fs::write(&lone, b"{}").unwrap();
    env.sh(&format!("touch -d '3 days ago' {}", lone.display()))
        .ok();
    let expected = size_of(&env, &old) + 5 + 2;
    let before = blobs(&env);
    let run = env.sh("img-prune -f").ok();
    assert_eq!(
        run.stdout,
        format!("Total reclaimed space: {}\n", human(expected))
    );
    assert_eq!(blobs(&env), before, "partials are never content");
    assert_eq!(
        ingest_files(&env),
        [
            format!("partial-{young}"),
            format!("partial-{young}.ranges"),
            format!("partial-{fresh}"),
            format!("partial-{fresh}.ranges"),
        ]
    );
    env.check_store();
}

#[test]
fn a_partial_download_a_pull_holds_is_kept() {
    if !need(peers::STORE) || !need(&["flock"]) {
        return;
    }
    let env = Env::new();
    let hex = "e".repeat(64);
    partial(&env, &hex, 9000, "3 days ago");
    // A process holds the download's flock, as a running img-pull does,
    // until the fifo is closed.
    let run = env.sh(&format!(
        "P=$STORE/.img/ingest/partial-{hex}; mkfifo ctl
         flock $P cat ctl >/dev/null 2>&1 & holder=$!
         exec 8>ctl
         wait_for 30 '! flock -n $P true'
         img-prune -f; status=$?
         ls $STORE/.img/ingest
         exec 8>&-; wait $holder; exit $status"
    ));
    let run = run.ok();
    assert_eq!(
        run.stdout,
        format!("Total reclaimed space: 0B\npartial-{hex}\npartial-{hex}.ranges\n")
    );
    // released, it is an abandoned download (img-fsck says so), and goes
    let expected = size_of(&env, &hex);
    let run = env.sh("img-prune -f").ok();
    assert_eq!(
        run.stdout,
        format!("Total reclaimed space: {}\n", human(expected))
    );
    assert!(ingest_files(&env).is_empty());
    env.check_store();
}

#[test]
fn waits_for_running_writers_before_collecting() {
    if !need(peers::STORE) || !need(&["flock"]) {
        return;
    }
    let env = store_with_dangling();
    env.sh("img-tag derived:v1 other").ok();
    let before = blobs(&env);
    // A writer holds the gc lock shared (as every writing program does)
    // until the fifo is closed; img-prune waits for it, then collects.
    let run = env
        .sh("mkfifo ctl
             flock -s $STORE/.img/lock/gc cat ctl >/dev/null 2>&1 & holder=$!
             exec 8>ctl
             wait_for 30 '! flock -n $STORE/.img/lock/gc true'
             img-prune -f > out 2> err 8>&- & pruner=$!
             wait_for 30 'grep -q waiting err'
             kill -0 $pruner
             exec 8>&-; wait $holder
             wait $pruner; status=$?
             cat out err; exit $status")
        .ok();
    assert!(
        run.stdout.starts_with("Deleted Images:\ndeleted: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("img-prune: waiting for the programs writing to the store to finish"),
        "{}",
        run.stdout
    );
    assert_eq!(before.len() - blobs(&env).len(), 3);
    env.check_store();
}

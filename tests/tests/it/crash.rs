//! Programs killed (SIGKILL) at chosen moments — the quick, deterministic
//! part of the crash suite (`just stress` kills them at random moments,
//! many times). After each kill img-fsck finds no damage, only leftovers
//! that the documented recovery removes (`img-prune -f`, or `img-fsck
//! --repair` for a container's runtime state), and the operation succeeds
//! when run again. (A killed img-pull: pull.rs; a killed img-run: fsck.rs.)

use img_tests::{need, Env};

const PEERS: &[&str] = &["skopeo", "umoci", "jq"];

/// Polls with a deadline, for the scripts below.
const WAIT_FOR: &str = r#"
wait_for() {  # wait_for WHAT CONDITION: poll, with a deadline of 60 s
  for _ in $(seq 6000); do eval "$2" && return 0; sleep 0.01; done
  echo "timed out waiting for $1" >&2; exit 99
}
"#;

/// After a kill: no damage, leftovers that `recovery` removes, then clean.
#[track_caller]
fn recovers(env: &Env, recovery: &str) -> Vec<String> {
    let run = env.sh("img-fsck");
    assert!(run.fsck_lines("damaged").is_empty(), "{}", run.stderr);
    let leftovers: Vec<String> = run
        .fsck_lines("leftover")
        .into_iter()
        .map(String::from)
        .collect();
    env.sh(recovery).ok();
    env.check_store();
    leftovers
}

#[test]
fn a_load_killed_while_it_stages_leaves_what_prune_removes() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-save -o a.tar busybox && img-rm busybox && img-prune -f")
        .ok();
    let run = env.sh(&format!(
        "{WAIT_FOR}
         mkfifo in; exec 7<>in
         img-load <in & load=$!
         head -c 600000 a.tar >&7
         wait_for 'a staged blob' 'ls $STORE/.img/ingest | grep -q blob-'
         kill -9 $load; wait $load; echo \"status $?\""
    ));
    assert_eq!(run.stdout, "status 137\n", "{}", run.stderr);
    let leftovers = recovers(&env, "img-prune -f");
    assert!(
        !leftovers.is_empty()
            && leftovers.iter().all(|l| l.starts_with(".img/ingest/blob-")
                && l.ends_with("): a temporary file of a write that never finished")),
        "{leftovers:?}"
    );
    env.sh("img-load -i a.tar").ok();
    env.sh("img-export busybox | tar -tf - | grep -x bin/busybox")
        .ok();
    env.check_store();
}

#[test]
fn a_commit_killed_while_its_layer_streams_in_leaves_what_prune_removes() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let run = env.sh(&format!(
        "{WAIT_FOR}
         mkdir -p layer && head -c 4000000 /dev/urandom > layer/noise && tar -C layer -cf layer.tar .
         mkfifo in; exec 7<>in
         img-commit busybox noisy:1 <in & commit=$!
         head -c 1000000 layer.tar >&7
         wait_for 'the layer to stream in' 'ls $STORE/.img/ingest | grep -q blob-'
         kill -9 $commit; wait $commit; echo \"status $?\""
    ));
    assert_eq!(run.stdout, "status 137\n", "{}", run.stderr);
    let leftovers = recovers(&env, "img-prune -f");
    assert!(
        !leftovers.is_empty()
            && leftovers
                .iter()
                .all(|l| l.ends_with("a temporary file of a write that never finished")),
        "{leftovers:?}"
    );
    assert!(env.sh("img-inspect noisy:1").code != 0, "nothing named");
    env.sh("img-commit busybox noisy:1 < layer.tar").ok();
    env.sh("img-export noisy:1 | tar -tf - | grep -E '^(./)?noise$'")
        .ok();
    env.check_store();
}

#[test]
fn a_build_killed_in_a_run_step_leaves_what_repair_removes() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    std::fs::create_dir_all(env.path("ctx")).unwrap();
    std::fs::write(
        env.path("ctx/Dockerfile"),
        "FROM busybox\nRUN busybox touch /started && busybox sleep 600\n",
    )
    .unwrap();
    let run = env.sh(&format!(
        "{WAIT_FOR}
         img-build -q -t app:1 ctx >/dev/null 2>&1 & build=$!
         wait_for 'the RUN step' 'ls $STORE/.img/build/*/*/upper/started >/dev/null 2>&1'
         kill -9 $build; wait $build; echo \"status $?\""
    ));
    assert_eq!(run.stdout, "status 137\n", "{}", run.stderr);
    // The step's process may outlive img-build (a container nobody
    // supervises): the repair takes it out of the runtime, which ends it.
    let leftovers = recovers(&env, "img-fsck --repair -q");
    assert!(
        leftovers
            .iter()
            .any(|l| l.ends_with("the directory of a build that never finished")),
        "{leftovers:?}"
    );
    std::fs::write(
        env.path("ctx/Dockerfile"),
        "FROM busybox\nRUN busybox touch /started\n",
    )
    .unwrap();
    env.sh("img-build -q -t app:1 ctx").ok();
    env.sh("img-export app:1 | tar -tf - | grep -x started")
        .ok();
    env.check_store();
}

#[test]
fn a_prune_killed_while_it_waits_leaves_the_queue_open() {
    if !need(PEERS) || !need(&["flock"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-ls -q").ok(); // the store's lock files
                              // A writer holds the store; the prune waits (holding the turnstile)
                              // and is killed there: the kernel drops its locks, writers go on.
    let run = env.sh(&format!(
        "{WAIT_FOR}
         mkfifo ctl
         flock -s $STORE/.img/lock/gc cat ctl >/dev/null 2>&1 & holder=$!
         exec 8<>ctl
         wait_for 'the writer' '! flock -n $STORE/.img/lock/gc true'
         img-prune -f >/dev/null 2>err & prune=$!
         wait_for 'the prune to wait' 'grep -q waiting err'
         kill -9 $prune; wait $prune; echo \"status $?\"
         img-tag busybox after:1 >/dev/null && echo tagged
         exec 8>&-; wait $holder"
    ));
    assert_eq!(run.stdout, "status 137\ntagged\n", "{}", run.stderr);
    recovers(&env, "true");
    env.sh("img-prune -f").ok();
}

#[test]
fn an_rm_killed_while_it_waits_for_the_index_changes_nothing() {
    if !need(PEERS) || !need(&["flock"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-tag busybox other:1").ok();
    let index = env.index_bytes();
    let run = env.sh(&format!(
        "{WAIT_FOR}
         mkfifo ctl
         flock $STORE/.img/lock/index cat ctl >/dev/null 2>&1 & holder=$!
         exec 8<>ctl
         wait_for 'the index lock' '! flock -n $STORE/.img/lock/index true'
         img-rm other:1 >/dev/null 2>&1 & rm=$!
         wait_for 'img-rm to wait for the lock' 'grep -q -- \"-> FLOCK.* $rm \" /proc/locks'
         kill -9 $rm; wait $rm; echo \"status $?\"
         exec 8>&-; wait $holder"
    ));
    assert_eq!(run.stdout, "status 137\n", "{}", run.stderr);
    assert_eq!(env.index_bytes(), index);
    recovers(&env, "true");
    env.sh("img-rm other:1").ok();
    env.check_store();
}

#[test]
fn a_killed_build_leaves_its_secrets_only_in_the_store_where_prune_removes_them() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    std::fs::create_dir_all(env.path("ctx")).unwrap();
    std::fs::create_dir_all(env.path("tmp")).unwrap();
    std::fs::write(
        env.path("ctx/Dockerfile"),
        "FROM busybox\nRUN busybox true\n",
    )
    .unwrap();
    // A build without secrets makes no place for them, anywhere.
    env.sh("TMPDIR=$PWD/tmp img-build -q -t plain:1 ctx >/dev/null")
        .ok();
    assert_eq!(env.sh("ls -A tmp").ok().stdout, "");
    // A secret from a variable, mounted as a file: its copy is written in
    // the build's directory in the store, never in TMPDIR.
    std::fs::write(
        env.path("ctx/Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=token,required \
         busybox test -s /run/secrets/token && busybox touch /started && busybox sleep 600\n",
    )
    .unwrap();
    let run = env.sh(&format!(
        "{WAIT_FOR}
         TOKEN=s3cret-value TMPDIR=$PWD/tmp img-build -q --secret id=token,env=TOKEN -t app:1 ctx >/dev/null 2>&1 & build=$!
         wait_for 'the RUN step' 'ls $STORE/.img/build/*/*/upper/started >/dev/null 2>&1'
         kill -9 $build; wait $build; echo \"status $?\"
         ls -A tmp
         cd $STORE && grep -rl s3cret-value ."
    ));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(lines[0], "status 137");
    assert!(
        lines[1].starts_with("./.img/build/tmp-") && lines[1].contains("/secrets/secret-"),
        "{}",
        run.stdout
    );
    let leftovers = recovers(&env, "img-prune -f");
    assert!(
        leftovers
            .iter()
            .any(|l| l.ends_with("the directory of a build that never finished")),
        "{leftovers:?}"
    );
    let left = env.sh("grep -rl s3cret-value $STORE; ls -A tmp").ok();
    assert_eq!(left.stdout, "", "the secret outlived the prune");
    // The build succeeds again, and leaves nothing of its secret.
    std::fs::write(
        env.path("ctx/Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=token,required \
         busybox test -s /run/secrets/token && busybox touch /started\n",
    )
    .unwrap();
    env.sh(
        "TOKEN=s3cret-value TMPDIR=$PWD/tmp img-build -q --secret id=token,env=TOKEN -t app:1 ctx",
    )
    .ok();
    let left = env
        .sh("grep -rl s3cret-value $STORE; ls -A tmp; ls -A $STORE/.img/build")
        .ok();
    assert_eq!(
        left.stdout, "",
        "the build left its secret or its directory"
    );
    env.check_store();
}

/// A power loss soon after a layer was unpacked: its snapshot can be left
/// with files emptied (nothing synced it). The test plays the restart by
/// renaming this boot's marks to another boot's and emptying a file of
/// the snapshot, as ext4 leaves a file whose blocks never reached the disk.
#[test]
fn a_snapshot_made_just_before_a_power_loss_is_unpacked_again_before_use() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.write("ctx/hello", "hello\n");
    env.write("ctx/Dockerfile", "FROM busybox\nCOPY hello /hello\n");
    env.sh("img-build -q -t app ctx >/dev/null").ok();
    assert_eq!(
        env.sh("img-run --rm app busybox cat /hello").ok().stdout,
        "hello\n"
    );
    env.sh("img-create --name keep app busybox cat /hello >/dev/null")
        .ok();
    let marks = env.store().join(".img/unsynced-snapshots");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let earlier = marks.join("0123abcd-0000-0000-0000-000000000000");
    std::fs::rename(marks.join(boot.trim()), &earlier).unwrap();
    env.sh("truncate -s 0 $STORE/.img/snapshots/*/hello").ok();
    // A kept container is not started on a snapshot nobody checked.
    let refused = env.sh("img-start -a keep").code(1);
    assert!(
        refused.stderr.contains("run img-fsck"),
        "{}",
        refused.stderr
    );
    // A new container gets the layer unpacked again from its blob.
    assert_eq!(
        env.sh("img-run --rm app busybox cat /hello").ok().stdout,
        "hello\n"
    );
    assert_eq!(env.sh("img-start -a keep").ok().stdout, "hello\n");
    // The emptied copy was set aside for the next prune; the prune syncs
    // what this boot made, so no mark is left.
    let leftovers = recovers(&env, "img-prune -f");
    assert_eq!(
        leftovers.len(),
        2,
        "busybox's layer and the COPY's: {leftovers:?}"
    );
    assert!(
        leftovers
            .iter()
            .all(|l| l.ends_with("unpacked again since")),
        "{leftovers:?}"
    );
    assert!(!earlier.exists());
    assert_eq!(
        std::fs::read_dir(marks.join(boot.trim())).unwrap().count(),
        0
    );
    env.sh("img-rm --container keep").ok();
    env.check_store();
}

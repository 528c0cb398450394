//! img-fsck on what running images leave: snapshots checked against their
//! layers, containers against their images and owners, and the runtime's
//! state against the processes that should hold it.

use super::*;

#[test]
fn a_broken_snapshot_is_dropped_and_unpacked_again() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-run --rm busybox sh -c :").ok();
    let run = fsck(&env, "").ok();
    assert!(run.stderr.contains(", 1 snapshot, "), "{}", run.stderr);
    // What a whiteout of `..` did to snapshots (issue 11): files gone, and
    // one changed.
    let snapshot = env
        .sh("ls $STORE/.img/snapshots")
        .ok()
        .stdout
        .trim()
        .to_string();
    env.sh(&format!(
        "cd $STORE/.img/snapshots/{snapshot} && rm bin/busybox && echo 'root:x:0:0:evil:/:/bin/sh' > etc/passwd"
    ))
    .ok();
    let run = fsck(&env, "").code(1);
    let damaged = run.fsck_lines("damaged");
    assert_eq!(damaged.len(), 1, "{}", run.stderr);
    assert!(
        damaged[0].starts_with(&format!("snapshot {} (layer sha256:", &snapshot[..12]))
            && damaged[0].ends_with(
                "of busybox:latest) differs from its layer: /bin/busybox: missing; /etc/passwd: 26 bytes where the layer has 30"
            ),
        "{}",
        damaged[0]
    );
    assert_eq!(run.stdout, "", "the images are whole");
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains(&format!(
            "img-fsck: dropped snapshot sha256:{snapshot} (it is unpacked again when needed)"
        )),
        "{}",
        run.stderr
    );
    let run = env.sh("img-run --rm busybox busybox cat /etc/passwd").ok();
    assert_eq!(run.stdout, "root:x:0:0:root:/root:/bin/sh\n");
    env.check_store();
}

#[test]
fn a_container_whose_img_run_was_killed_and_a_stale_record() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // img-run is killed while its container runs: the container dies with
    // it (container/owner.rs) and the next program, img-fsck too, finds it
    // ended and recorded, with nothing left of it.
    let script = r#"
        img-run --name box busybox busybox sleep 600 >/dev/null 2>&1 & run=$!
        for _ in $(seq 3000); do
          grep -q '"running"' $STORE/.img/containers/*/container.json 2>/dev/null && break; sleep 0.01
        done
        kill -9 $run; wait $run 2>/dev/null
        img-fsck 2>&1; echo "status $?"
    "#;
    let run = env.sh(script).ok();
    assert!(
        run.stdout.ends_with("no problems\nstatus 0\n"),
        "{}",
        run.stdout
    );
    // Its guard ends it at once; the record says so soon after.
    let run = env
        .sh("for _ in $(seq 3000); do img-ls --containers | grep -q 'Exited (137) .* box$' && break; sleep 0.01; done; img-ls --containers")
        .ok();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("Exited (137) ") && l.ends_with(" box")),
        "{}",
        run.stdout
    );
    env.check_store();
    // A record that says its container runs, while nothing owns it and its
    // process is gone (what no reap could mark): a leftover, marked exited.
    let id = env
        .sh("basename $STORE/.img/containers/*")
        .ok()
        .stdout
        .trim()
        .to_string();
    env.sh(&format!(
        "pid=$(sh -c 'echo $$'); f=$STORE/.img/containers/{id}/container.json
         jq -c --argjson p $pid '.state = {{status: \"running\", pid: $p}}' $f > r && mv r $f"
    ))
    .ok();
    let label = format!("container box ({})", &id[..12]);
    let run = fsck(&env, "").code(1);
    assert_eq!(
        run.fsck_lines("leftover"),
        [format!(
            "{label}: its record says it runs, but its img-run and its process are gone"
        )]
    );
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains(&format!(
            "img-fsck: marked container {} as exited (255)",
            &id[..12]
        )),
        "{}",
        run.stderr
    );
    let run = env.sh("img-ls --containers").ok();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("Exited (255) ") && l.ends_with(" box")),
        "{}",
        run.stdout
    );
    env.check_store();
}

#[test]
fn runtime_state_no_reap_could_end_and_a_process_nobody_supervises() {
    if !need(PEERS) || !need(&["runc"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // Runtime state nothing owns that opening the store cannot remove: a
    // runtime that is not installed (any more) cannot delete it, and the
    // reap's own fallback removes directories only, not a file another
    // tool left there.
    let id = "e".repeat(64);
    env.sh(&format!(
        "mkdir -p $STORE/.img/runtime/youki && echo '{{}}' > $STORE/.img/runtime/youki/{id}"
    ))
    .ok();
    let run = fsck(&env, "").code(1);
    assert_eq!(
        run.fsck_lines("leftover"),
        [format!(
            ".img/runtime/youki/{id}: youki keeps the state of container {}, whose owner is gone",
            &id[..12]
        )]
    );
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains(&format!(
            "img-fsck: ended container {} (its owner was gone) and its runtime state",
            &id[..12]
        )),
        "{}",
        run.stderr
    );
    env.sh(&format!("test ! -e $STORE/.img/runtime/youki/{id}"))
        .ok();
    env.check_store();
    // A container record naming a live process that no img-run
    // supervises: only the user can judge it; the repair leaves it and
    // says so, and once the process is gone marks it exited.
    env.sh("img-create --name lost busybox busybox true >/dev/null")
        .ok();
    let cid = env
        .sh("basename $STORE/.img/containers/*")
        .ok()
        .stdout
        .trim()
        .to_string();
    let script = format!(
        "mkfifo ctl; cat ctl >/dev/null & pid=$!; exec 8<>ctl
         f=$STORE/.img/containers/{cid}/container.json
         jq -c --argjson p $pid '.state = {{status: \"running\", pid: $p}}' $f > r && mv r $f
         img-fsck; echo \"check $?\"; img-fsck --repair; echo \"repair $?\"
         exec 8>&-; wait $pid; echo \"pid $pid\""
    );
    let run = env.sh(&script).ok();
    let pid = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .unwrap_or_default()
        .to_string();
    assert!(
        run.stdout.starts_with("check 1\nrepair 1\n"),
        "{}",
        run.stdout
    );
    let orphan = format!(
        "container lost ({}): its process (pid {pid}) runs, but no img-run supervises it: \
         end it (kill {pid}), then run img-fsck --repair",
        &cid[..12]
    );
    assert_eq!(
        run.fsck_lines("leftover"),
        [orphan.as_str(), orphan.as_str()]
    );
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains(&format!(
            "img-fsck: marked container {} as exited (255)",
            &cid[..12]
        )),
        "{}",
        run.stderr
    );
    env.check_store();
}

/// A removed container's directory goes through the store's trash, which
/// every program sweeps when it opens the store; one that cannot be
/// deleted (here a file made immutable in it) is shown by img-fsck rather
/// than retried unseen forever, and goes once it can.
#[test]
fn trash_that_cannot_be_deleted_is_a_leftover() {
    let env = Env::new();
    env.seed("base", "busybox");
    let id = "d".repeat(64);
    let run = env.sh(&format!(
        "mkdir -p $STORE/.img/trash/{id}/upper && printf 1234 > $STORE/.img/trash/{id}/upper/file
         chattr +i $STORE/.img/trash/{id}/upper/file
         img-fsck > out 2> err; status=$?
         chattr -i $STORE/.img/trash/{id}/upper/file; cat err >&2; exit $status"
    ));
    let run = run.code(1);
    assert_eq!(
        run.fsck_lines("leftover"),
        [format!(
            ".img/trash/{id} (4B): a removed container's directory that could not be deleted"
        )],
        "{}",
        run.stderr
    );
    // Deletable again: the next program's opening of the store removes it.
    fsck(&env, "").ok();
    assert_eq!(env.sh("ls -A $STORE/.img/trash").ok().stdout, "");
}

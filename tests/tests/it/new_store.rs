//! Making a store is atomic as far as the next program can tell: the first
//! command on a new `--root`, killed at any moment, leaves a directory the
//! next command takes up (issue 11, defect 4).

use img_tests::{check_layout, need, Env};

/// The system calls by which the first command on a new root changes the
/// filesystem (or takes the lock it does it under).
const CHANGING: &[&str] = &[
    "mkdir",
    "openat",
    "write",
    "fsync",
    "chmod",
    "fchmod",
    "fchmodat",
    "rename",
    "renameat",
    "renameat2",
    "flock",
    "unlink",
    "unlinkat",
];

/// What the store's root and its `.img/` hold once the next command ran.
fn assert_whole(env: &Env, root: &str, why: &str) {
    let path = env.path(root);
    check_layout(&path);
    let run = env
        .sh(&format!(
            "cd {root} && ls -A . && ls -A .img && stat -c %a .img"
        ))
        .ok();
    assert_eq!(
        run.stdout, ".img\nblobs\nindex.json\noci-layout\ningest\nlock\n700\n",
        "{why}: a leftover, or .img is open to others"
    );
}

/// Kill the first command at every call that changes the filesystem — the
/// Nth `mkdir`, the Nth `write`, … for every N it makes — with strace's
/// fault injection; after each kill the next command succeeds, and the
/// store is whole, with nothing left over.
#[test]
fn a_first_command_killed_at_any_step_leaves_a_store_the_next_one_finishes() {
    if !need(&["strace"]) {
        return;
    }
    let env = Env::new();
    // How often each call happens in a whole run.
    let run = env
        .sh(&format!(
            "strace -f -qq -o trace -e trace={} img-ls -q --root counted && cat trace",
            CHANGING.join(",")
        ))
        .ok();
    assert_whole(&env, "counted", "an uninterrupted run");
    let mut points = 0;
    for call in CHANGING {
        let count = run
            .stdout
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|c| c.starts_with(&format!("{call}(")))
            })
            .count();
        for n in 1..=count {
            let root = format!("r-{call}-{n}");
            let killed = env.sh(&format!(
                "strace -f -qq -o /dev/null -e trace={call} -e inject={call}:signal=KILL:when={n} \
                 img-ls -q --root {root}; echo $?"
            ));
            assert_eq!(
                killed.stdout, "137\n",
                "{call} #{n} was not reached: {killed:?}"
            );
            let again = env.sh(&format!("img-ls -q --root {root}"));
            assert_eq!(
                again.code, 0,
                "killed at {call} #{n}, the store was refused: {}",
                again.stderr
            );
            assert_whole(&env, &root, &format!("killed at {call} #{n}"));
            points += 1;
        }
    }
    // mkdir, the lock, both files written, synced, renamed: the creation's
    // steps were all among the points killed at.
    assert!(points >= 20, "only {points} kill points");
}

/// The same in the stress style: the first command on 50 new roots killed
/// with SIGKILL after a random delay, each root then opened again.
#[test]
fn random_kills_of_a_first_command_leave_usable_stores() {
    let env = Env::new();
    env.sh("for i in $(seq 1 50); do
           img-tag --root r$i a b 2>/dev/null & pid=$!
           sleep 0.00$((RANDOM % 10)); kill -9 $pid 2>/dev/null; wait $pid
           img-ls -q --root r$i || { echo \"root r$i refused\" >&2; exit 1; }
         done")
        .ok();
    for i in 1..=50 {
        assert_whole(&env, &format!("r{i}"), &format!("root r{i}"));
    }
}

//! img-build stops as `docker build` (BuildKit) stops: on SIGINT or SIGTERM
//! and at the first stage that fails, every RUN container of the build is
//! killed, not waited for; nothing is left and nothing is tagged.
//!
//! The RUN steps that are stopped would sleep for weeks: a build that waited
//! for them would run into the script's deadline (`wait_for`), so the tests
//! need no timing of their own. A signal in a step that runs no process (a
//! COPY, a pull) stops it the same way, through the cancel flag its copy
//! loops check.

use crate::containers::assert_no_leftovers;
use img_tests::proxy::Proxy;
use img_tests::registry::Registry;
use img_tests::{need, peers, Env};

/// Two stages built at once (the first printing live, the second through a
/// log), each in a RUN whose process, PID 1 of its namespace, ignores
/// SIGTERM and SIGINT.
const SLEEPERS: &str = r#"FROM base AS one
RUN ["busybox", "sleep", "4000501"]
FROM base AS two
RUN ["busybox", "sleep", "4000502"]
FROM base
COPY --from=one /bin/sh /one
COPY --from=two /bin/sh /two
"#;

/// A stopped build made no image (`repository`), left no RUN process
/// (whose `busybox sleep` argument starts with `sleep`) and nothing else.
#[track_caller]
fn nothing_made_or_left(env: &Env, stderr: &str, sleep: &str, repository: &str) {
    assert!(!stderr.contains("Successfully"), "{stderr}");
    let sleeping = env
        .sh(&format!("pgrep -f '^busybox sleep {sleep}' || true"))
        .ok();
    assert_eq!(sleeping.stdout, "", "RUN processes left: {stderr}");
    let images = env.sh("img-ls --format '{{.Repository}}'").ok();
    assert!(!images.stdout.contains(repository), "{}", images.stdout);
    assert_no_leftovers(env);
}

fn env() -> Option<Env> {
    if !need(&["runc"]) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "base");
    Some(env)
}

#[test]
fn a_signal_kills_every_run_of_the_build_and_tags_nothing() {
    let Some(env) = env() else { return };
    env.write("ctx/Dockerfile", SLEEPERS);
    for signal in ["TERM", "INT"] {
        // Both containers run, then the signal; the build must end within
        // the deadline, though its RUNs would not.
        let run = env
            .sh(&format!(
                "img-build -t cancel:{signal} ctx >out 2>err &
                 build=$!
                 wait_for 120 \"pgrep -f '^busybox sleep 4000501' >/dev/null && pgrep -f '^busybox sleep 4000502' >/dev/null\"
                 kill -{signal} $build
                 wait_for 60 '! kill -0 $build 2>/dev/null'
                 wait $build; echo \"status $?\"
                 cat err >&2"
            ))
            .ok();
        assert_eq!(run.stdout, "status 1\n", "SIG{signal}: {}", run.stderr);
        assert!(
            run.stderr.contains("context canceled") && run.stderr.contains(&format!("SIG{signal}")),
            "SIG{signal}: {}",
            run.stderr
        );
        nothing_made_or_left(&env, &run.stderr, "400050", "cancel");
        let build_dirs = env.sh("ls -A store/.img/build").ok();
        assert_eq!(build_dirs.stdout, "", "build directories left");
    }
}

/// Stage `sleeper` runs a RUN of weeks; stage `failing` waits until it runs
/// (they share a cache mount), then fails.
fn failing_beside_sleeper(sleeper_first: bool) -> String {
    let sleeper = "FROM base AS sleeper
RUN --mount=type=cache,target=/meet,id=meet sh -c 'touch /meet/sleeping; exec busybox sleep 4000511'
";
    let failing = "FROM base AS failing
RUN --mount=type=cache,target=/meet,id=meet sh -c 'i=0; while [ ! -e /meet/sleeping ]; do i=$((i+1)); [ $i -le 1200 ] || exit 7; sleep 0.1; done; exit 3'
";
    let (first, second) = if sleeper_first {
        (sleeper, failing)
    } else {
        (failing, sleeper)
    };
    format!(
        "{first}{second}FROM base
COPY --from=sleeper /bin/sh /one
COPY --from=failing /bin/sh /two
"
    )
}

#[test]
fn the_first_failed_stage_kills_the_runs_of_the_others() {
    let Some(env) = env() else { return };
    // The failing stage prints live or through a log; its error is the
    // build's either way, not its killed sibling's.
    for sleeper_first in [false, true] {
        // A cache mount of its own each time: no file of the last one in it.
        let dockerfile = failing_beside_sleeper(sleeper_first)
            .replace("id=meet", &format!("id=meet-{sleeper_first}"));
        env.write("ctx/Dockerfile", &dockerfile);
        let run = env
            .sh("img-build -t failed:1 ctx >out 2>err &
                 build=$!
                 wait_for 120 '! kill -0 $build 2>/dev/null'
                 wait $build; echo \"status $?\"
                 cat err >&2")
            .ok();
        assert_eq!(run.stdout, "status 1\n", "{}", run.stderr);
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("Dockerfile:") && last.contains("returned a non-zero code: 3"),
            "sleeper first: {sleeper_first}: {}",
            run.stderr
        );
        nothing_made_or_left(&env, &run.stderr, "4000511", "failed");
    }
}

/// Build `ctx` as `tag`, sending `signal` once `ready` (shell code) holds;
/// the build must end by itself within the deadline. Its stdout is its
/// status, its stderr the build's.
fn build_stopped_when(env: &Env, tag: &str, signal: &str, ready: &str) -> img_tests::Run {
    env.sh(&format!(
        "img-build -t {tag} ctx >out 2>err &
         build=$!
         wait_for 120 \"{ready}\"
         kill -{signal} $build
         wait_for 60 '! kill -0 $build 2>/dev/null'
         wait $build; echo \"status $?\"
         cat err >&2"
    ))
    .ok()
}

/// A stopped build ended as `docker build` does: status 1, `context
/// canceled` naming the signal, no image, nothing left, a sound store.
#[track_caller]
fn stopped_as_docker_does(env: &Env, run: &img_tests::Run, signal: &str, repository: &str) {
    assert_eq!(run.stdout, "status 1\n", "SIG{signal}: {}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("context canceled") && last.contains(&format!("SIG{signal}")),
        "SIG{signal}: {}",
        run.stderr
    );
    nothing_made_or_left(env, &run.stderr, "4000599", repository);
    let build_dirs = env.sh("ls -A store/.img/build").ok();
    assert_eq!(build_dirs.stdout, "", "build directories left");
    env.check_store();
}

#[test]
fn a_signal_during_a_copy_of_a_big_file_stops_it_and_tags_nothing() {
    let Some(env) = env() else { return };
    env.write("ctx/Dockerfile", "FROM base\nCOPY big.bin /big.bin\n");
    env.sh("head -c 512M /dev/zero > ctx/big.bin").ok();
    for signal in ["TERM", "INT"] {
        // The signal comes once the COPY writes the file: copying it,
        // writing the layer and storing it take far longer than a signal.
        let run = build_stopped_when(
            &env,
            &format!("copying:{signal}"),
            signal,
            "find store/.img/build -name big.bin 2>/dev/null | grep -q .",
        );
        stopped_as_docker_does(&env, &run, signal, "copying");
        // The layer's blob was being written, or not begun: no temporary
        // file of it is left.
        let ingest = env.sh("ls -A store/.img/ingest").ok();
        assert_eq!(ingest.stdout, "", "SIG{signal}: ingest files left");
    }
}

#[test]
fn a_signal_during_the_pull_of_the_base_stops_it_and_tags_nothing() {
    if !need(&["runc"]) || !need(peers::TLS_REGISTRY) {
        return;
    }
    let registry = Registry::open_with_big();
    // 1 MiB/s a connection: the 80 MiB layer takes a minute or more, so
    // the pull is under way whenever the signal comes.
    let slow = Proxy::throttled(&registry.host, 1 << 20);
    for signal in ["TERM", "INT"] {
        // A store of its own each time: the last one's partial download
        // would meet the condition below before the build began.
        let env = Env::new();
        env.write(
            "ctx/Dockerfile",
            &format!("FROM {}/test/big:1\nRUN true\n", slow.host),
        );
        // The signal comes once the layer's download has a file of its own.
        let run = build_stopped_when(
            &env,
            &format!("pulling:{signal}"),
            signal,
            "find store/.img/ingest -type f -size +1M 2>/dev/null | grep -q .",
        );
        stopped_as_docker_does(&env, &run, signal, "pulling");
        // The big layer never arrived (the base's small one may have).
        let count = |what: &str| run.stderr.matches(what).count();
        assert!(
            count("Pull complete") < count("Pulling fs layer"),
            "{}",
            run.stderr
        );
        // What is left is the layer's partial download, for the next pull
        // to resume (and the store's sweep to take, like any other).
        let ingest = env.sh("ls -A store/.img/ingest").ok();
        let left: Vec<&str> = ingest.stdout.lines().collect();
        assert!(
            !left.is_empty() && left.iter().all(|f| f.starts_with("partial-")),
            "SIG{signal}: {left:?}"
        );
    }
}

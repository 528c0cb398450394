//! kill -9 of img-run and img-build at the moments where something of a
//! container exists, and what is left afterwards: nothing.

use super::*;

/// kill -9 of img-run or img-build at the moments where something of the
/// container exists: the foreground container dies with img-run, and
/// after the next img program nothing of it is left.
#[test]
fn killed_programs_leave_no_container_process_or_mount() {
    let Some(env) = ready() else { return };
    // img-run killed once the container runs (its process writes a file).
    for (i, network) in ["bridge", "host", "none"].iter().enumerate() {
        let marker = 4_000_100 + i;
        env.sh(&format!(
            "mkdir -p probe{i}; img-run --network {network} -v $PWD/probe{i}:/probe base sh -c ': > /probe/up; busybox sleep {marker}' &
             for n in $(seq 2400); do [ -e probe{i}/up ] && break; sleep 0.025; done
             [ -e probe{i}/up ] || exit 1
             kill -9 $!
             # The guard ends the container without any img program.
             for n in $(seq 2400); do pgrep -f '^busybox sleep {marker}' >/dev/null || exit 0; sleep 0.025; done
             exit 1"
        ))
        .ok();
    }
    // img-run killed before anything ran: right after its owner's lock
    // appeared. Whatever the runtime was doing then, nothing of it may
    // hold the pipeline's output: it ends, within a deadline.
    sh_within(
        &env,
        "img-run base busybox sleep 4000200 &
         for n in $(seq 2000); do ls store/.img/runtime/owned 2>/dev/null | grep -q lock && break; sleep 0.005; done
         kill -9 $!; wait $! || true",
        Duration::from_secs(120),
    )
    .ok();
    // img-run killed while the runtime makes the container (a gate holds
    // it before it creates: img-run is killed, then the gate opens): `runc
    // run` without a terminal, `runc create` with one. The runtime makes
    // the container after its owner died, with nothing else of img
    // running: the guard waits for it (for a run, until it started the
    // container), ends what it made, and the caller's output ends. (On
    // img's own network namespace the runtime could not make it at all:
    // the namespace is joined through the dead owner's descriptor.)
    let dir = env.dir.path().display();
    let gate = format!(
        "#!/bin/sh\ncase \" $* \" in *\" create \"*|*\" run \"*) : > {dir}/creating; read go < {dir}/gate;; esac\nexec runc \"$@\"\n"
    );
    std::fs::write(env.path("gated"), gate).unwrap();
    env.sh("chmod +x gated").ok();
    let gated = env.path("gated").display().to_string();
    for (flags, marker) in [("", 4_000_250), ("-t", 4_000_260)] {
        let run = sh_within(
            &env,
            &format!(
                "rm -f creating gate; mkfifo gate
                 img-run {flags} --network none --runtime {gated} base busybox sleep {marker} &
                 for n in $(seq 2000); do [ -e creating ] && break; sleep 0.005; done
                 [ -e creating ] || {{ kill -9 $!; exit 1; }}
                 kill -9 $!; wait $! || true
                 echo go > gate"
            ),
            Duration::from_secs(120),
        )
        .ok();
        assert_eq!(run.stdout, "", "{flags}");
        // The guard ends the container once the runtime made it (the
        // waits allow a minute: on a loaded machine the runtime, the
        // guard's wait for it and `runc delete` take seconds).
        env.sh(&format!(
            "for n in $(seq 2400); do
               [ -z \"$(ls store/.img/runtime/gated 2>/dev/null)\" ] && ! pgrep -f '^busybox sleep {marker}' >/dev/null && exit 0
               sleep 0.025
             done
             ls store/.img/runtime/gated; exit 1"
        ))
        .ok();
    }
    // img-build killed during a RUN step.
    env.sh(
        "mkdir ctx && printf 'FROM base\\nRUN busybox sleep 4000300\\n' > ctx/Dockerfile
         img-build -q ctx >/dev/null 2>&1 &
         for n in $(seq 2400); do pgrep -f '^busybox sleep 4000300' >/dev/null && break; sleep 0.025; done
         pgrep -f '^busybox sleep 4000300' >/dev/null || exit 1
         kill -9 $!
         for n in $(seq 2400); do pgrep -f '^busybox sleep 4000300' >/dev/null || exit 0; sleep 0.025; done
         exit 1",
    )
    .ok();
    // The next program ends whatever is left and records the end.
    let ps = env
        .sh("img-ps -a --format '{{.State}} {{.Status}}'")
        .ok()
        .stdout;
    assert!(!ps.contains("running"), "{ps}");
    assert!(ps.contains("Exited (137)"), "{ps}");
    // This test's markers only: other tests on the machine sleep too.
    let gone = env
        .sh("pgrep -f '^busybox sleep 4000(10[0-2]|200|250|260|300)$' || true")
        .ok()
        .stdout;
    assert_eq!(gone, "", "container processes left");
    assert_no_leftovers(&env);
}

/// kill -9 of `img-run --rm` while its container runs, many times: the
/// guard ends each container and removes it whole, record and all. (Its
/// removal in place could fail half-way while the dead owner's mount
/// namespace still had the root filesystem mounted, leaving a record that
/// said it ran, with nothing to reap it again: 8 of 60 kills, measured.)
#[test]
fn killed_rm_runs_leave_no_container_record() {
    let Some(env) = ready() else { return };
    sh_within(
        &env,
        "for i in $(seq 20); do
           rm -f up; img-run --rm -v $PWD:/probe base sh -c ': > /probe/up; busybox sleep 4000400' &
           for n in $(seq 2400); do [ -e up ] && break; sleep 0.025; done
           [ -e up ] || exit 1
           kill -9 $!; wait $! || true
         done
         for n in $(seq 2400); do pgrep -f '^busybox sleep 4000400$' >/dev/null || exit 0; sleep 0.025; done
         exit 1",
        Duration::from_secs(240),
    )
    .ok();
    assert_no_leftovers(&env);
    // Only records are looked at: the next program removes what a guard
    // could not yet (trash, and directories without a record).
    let records = env
        .sh("ls store/.img/containers/*/container.json 2>/dev/null || true")
        .ok()
        .stdout;
    assert_eq!(records, "", "records of --rm containers left");
    assert_eq!(env.sh("img-ps -aq").ok().stdout, "");
    // Nothing holds their mounts any more: that program emptied the trash.
    let trash = env.sh("ls -A store/.img/trash").ok().stdout;
    assert_eq!(trash, "", "trash left after a program ran");
}

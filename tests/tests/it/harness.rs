//! The test harness itself: a pipeline that hangs fails its test instead
//! of stalling the run, and so does a wait inside a script.

use std::process::Command;
use std::time::{Duration, Instant};

use img_tests::pipeline;
use img_tests::Env;

#[test]
fn a_pipeline_past_its_deadline_is_killed_and_fails() {
    let started = Instant::now();
    // A background child holds stdout open: the output never ends either.
    let mut command = Command::new("bash");
    command.args(["-c", "echo started; sleep 60 & sleep 60"]);
    let hung = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pipeline::run_within(command, "a hanging pipeline", None, Duration::from_secs(1))
    }));
    let message = *hung
        .expect_err("the pipeline returned")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("a hanging pipeline: did not finish within 1 s")
            && message.contains("stdout so far:\nstarted\n"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it waited for the sleeps"
    );
}

#[test]
fn wait_for_gives_up_at_its_deadline() {
    let env = Env::new();
    let started = Instant::now();
    let run = env
        .sh("sleep 60 & wait_for 1 'test -e never'; echo not reached")
        .code(124);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "wait_for: gave up after 1 s waiting for: test -e never\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the job was not killed"
    );
    let run = env
        .sh("(sleep 0.2; touch later) & wait_for 10 'test -e later' && echo seen")
        .ok();
    assert_eq!(run.stdout, "seen\n");
}

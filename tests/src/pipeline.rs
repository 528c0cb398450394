//! Running a test's shell pipeline with a deadline: a pipeline that hangs
//! fails its test, with what it printed so far, instead of stalling the
//! test run. Every pipeline starts with [`PRELUDE`], whose `wait_for` gives
//! the polling loops inside scripts a deadline of their own.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Run;

/// What every pipeline's script starts with.
///
/// `wait_for SECONDS 'CONDITION'` evaluates CONDITION (shell code, in the
/// script's own shell) every 20 ms until it succeeds; after SECONDS it
/// says what it waited for on stderr, kills the script's background jobs
/// and ends the script with status 124.
pub const PRELUDE: &str = r#"set -o pipefail
wait_for() {
  local limit=$1 condition=$2 start=$SECONDS
  until eval "$condition"; do
    if (( SECONDS - start >= limit )); then
      echo "wait_for: gave up after ${limit} s waiting for: $condition" >&2
      kill -9 $(jobs -p) 2>/dev/null
      exit 124
    fi
    sleep 0.02
  done
}
"#;

/// How long one pipeline may take: `IMG_TEST_TIMEOUT` seconds, else 300 (a
/// whole test run takes about that; no single pipeline comes close).
pub fn deadline() -> Duration {
    let seconds = std::env::var("IMG_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(seconds)
}

/// Run `command` (its stdout and stderr are taken here) in a process group
/// of its own, feeding it `stdin`. When it has not finished, output
/// closed, within [`deadline`], the group is killed and the test fails.
pub fn run(command: Command, what: &str, stdin: Option<&[u8]>) -> Run {
    run_within(command, what, stdin, deadline())
}

/// [`run`] with the deadline `limit`.
pub fn run_within(mut command: Command, what: &str, stdin: Option<&[u8]>, limit: Duration) -> Run {
    let started = Instant::now();
    command
        .process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let group = child.id();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        // A program may stop reading early (and fail); its output says why.
        std::thread::spawn(move || match pipe.write_all(&bytes) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                panic!("feeding stdin: {e}")
            }
            _ => {}
        });
    }
    let (done, finished) = mpsc::channel();
    let stdout = collect(child.stdout.take().unwrap(), done.clone());
    let stderr = collect(child.stderr.take().unwrap(), done.clone());
    std::thread::spawn(move || {
        let status = child.wait().unwrap();
        done.send(Some(status)).ok();
    });
    // Three events: both outputs closed and the script's exit.
    let mut status = None;
    for _ in 0..3 {
        let left = limit.saturating_sub(started.elapsed());
        match finished.recv_timeout(left) {
            Ok(Some(s)) => status = Some(s),
            Ok(None) => {}
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .status();
                panic!(
                    "{what}: did not finish within {} s (IMG_TEST_TIMEOUT); killed.\nstdout so far:\n{}\nstderr so far:\n{}",
                    limit.as_secs(),
                    String::from_utf8_lossy(&stdout.lock().unwrap()),
                    String::from_utf8_lossy(&stderr.lock().unwrap())
                );
            }
        }
    }
    let status = status.unwrap();
    let take = |buffer: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: take(&stdout),
        stderr: take(&stderr),
    }
}

/// Read `from` to its end on a thread of its own, into the buffer returned
/// (which holds what came so far, should the pipeline hang); `None` on
/// `done` once the end came.
fn collect(
    mut from: impl Read + Send + 'static,
    done: mpsc::Sender<Option<std::process::ExitStatus>>,
) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let into = buffer.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 64 << 10];
        loop {
            match from.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        done.send(None).ok();
    });
    buffer
}

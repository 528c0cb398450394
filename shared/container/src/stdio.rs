//! A container's standard streams: pipes whose other ends img holds and
//! copies — img's own stdin, stdout and stderr are never handed to the
//! runtime.
//!
//! Why: a runtime process can outlive the img program that started it.
//! `runc create` goes on after its caller is killed, and leaves `runc init`
//! waiting to be started; had it been given img's stdout, the caller's
//! `x=$(img-run …)` or pipeline would wait for an end that never comes.
//! With pipes, the caller's streams close with img whatever is left
//! running, the container's guard ends what is left (`owner.rs`), and the
//! container's next write fails as on any closed pipe. Docker's containers
//! write into pipes of the daemon's too, so a container sees what it sees
//! under Docker: no terminal unless `-t`.
//!
//! The copies: stdout and stderr to img's own streams and/or into the
//! container's json-file log (`log.rs`), stdin from img's own with `-i`.
//! A detached container with `-i` gets a stdin that stays open and empty,
//! as Docker's does while nothing is attached, so `img-run -di busybox sh`
//! keeps running.

use std::fs::File;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::thread::JoinHandle;

use super::execute::Stdout;
use super::log;
use super::runtime::Stdio3;
use img_core::error::{IoContext, Result};

/// img's ends of a container's streams, kept until [`Ends::copy`].
pub(crate) struct Ends {
    feed: Option<PipeWriter>,
    output: Option<PipeReader>,
}

impl Ends {
    /// The streams of a container whose output goes to `stdout`, the
    /// container's ends for the runtime's `create` first; with
    /// `interactive` (and no terminal) it gets a stdin pipe.
    pub fn new(stdout: &Stdout, interactive: bool, tty: bool) -> Result<(Stdio3, Ends)> {
        let (feed, stdin) = if interactive && !tty {
            let (reader, writer) =
                std::io::pipe().io_context(|| "making a pipe for stdin".into())?;
            (Some(writer), Stdio::from(reader))
        } else {
            (None, Stdio::null())
        };
        let (output, out) = match stdout {
            Stdout::Null => (None, Stdio::null()),
            _ => {
                let (reader, writer) =
                    std::io::pipe().io_context(|| "making a pipe for stdout".into())?;
                (Some(reader), Stdio::from(writer))
            }
        };
        Ok((Stdio3 { stdin, stdout: out }, Ends { feed, output }))
    }

    /// Start copying, once the runtime created the container: its stdout,
    /// its `stderr` (the runtime's pipe) or its `terminal`, and img's
    /// stdin with `-i`.
    pub fn copy(
        self,
        stdout: &Stdout,
        stderr: PipeReader,
        terminal: Option<File>,
        interactive: bool,
    ) -> Result<Copying> {
        let log = match stdout {
            Stdout::Log(path) | Stdout::Attached(path) => Some(log::Writer::open(path)?),
            _ => None,
        };
        let attached = !matches!(stdout, Stdout::Log(_));
        let (to_stdout, to_stderr): (Sink, Sink) = match stdout {
            Stdout::Log(_) => (Sink::Nowhere, Sink::Nowhere),
            Stdout::Inherit | Stdout::Attached(_) => (Sink::Stdout, Sink::Stderr),
            Stdout::Stderr | Stdout::Null => (Sink::Stderr, Sink::Stderr),
        };
        let mut threads = Vec::new();
        let mut held: Option<OwnedFd> = None;
        if let Some(master) = terminal {
            if interactive && attached {
                let to = master
                    .try_clone()
                    .io_context(|| "sharing the terminal".into())?;
                feed(to);
            } else {
                // Nothing types into a detached terminal; it stays open.
                held = Some(
                    master
                        .try_clone()
                        .io_context(|| "sharing the terminal".into())?
                        .into(),
                );
            }
            threads.push(pump(master, to_stdout, log.as_ref(), "stdout"));
        }
        if let Some(output) = self.output {
            threads.push(pump(output, to_stdout, log.as_ref(), "stdout"));
        }
        threads.push(pump(stderr, to_stderr, log.as_ref(), "stderr"));
        if let Some(writer) = self.feed {
            if attached {
                feed(writer);
            } else {
                held = Some(writer.into());
            }
        }
        Ok(Copying {
            threads,
            _held: held,
        })
    }
}

/// The copies going on; [`Copying::finish`] waits for the output's.
pub(crate) struct Copying {
    threads: Vec<JoinHandle<()>>,
    /// An input end kept open for a detached container, never written.
    _held: Option<OwnedFd>,
}

impl Copying {
    /// Wait until the container's output is copied (every writer of its
    /// pipes closed them: the container ended).
    pub fn finish(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Where a stream goes besides the log.
#[derive(Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
    Nowhere,
}

impl Sink {
    fn writer(self) -> Option<Box<dyn Write + Send>> {
        match self {
            Sink::Stdout => Some(Box::new(std::io::stdout())),
            Sink::Stderr => Some(Box::new(std::io::stderr())),
            Sink::Nowhere => None,
        }
    }
}

/// Copy `from` to `sink` (and into `log`), in a thread that ends when the
/// container's side is closed. A terminal master fails with EIO then.
fn pump(
    from: impl Read + Send + 'static,
    sink: Sink,
    log: Option<&log::Writer>,
    stream: &'static str,
) -> JoinHandle<()> {
    match log {
        Some(log) => log.tee(from, sink.writer(), stream),
        None => {
            let mut from = from;
            std::thread::spawn(move || {
                if let Some(mut to) = sink.writer() {
                    // std::io::copy splices between pipes where it can.
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.flush();
                }
                // Dropped here: a closed sink closes the pipe too.
            })
        }
    }
}

/// Copy img's stdin into `to` until it ends (then `to` closes: the
/// container reads its end), in a thread nobody waits for: a read of
/// img's stdin may block past the container's end.
fn feed(mut to: impl Write + Send + 'static) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 8192];
        while let Ok(n) = stdin.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
    });
}

//! The terminal of `img-run -t`: the runtime makes a pseudo-terminal for the
//! container and hands its master to img over a Unix socket (the OCI
//! runtimes' `--console-socket` protocol: one message carrying the file
//! descriptor); img then copies between its own terminal and the master,
//! with its terminal in raw mode (so that Ctrl-C, Ctrl-D and line editing
//! reach the container's shell, as `docker run -it` does) and the window
//! size passed on.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::termios::{self, OptionalActions, Termios};

use img_core::error::{Error, IoContext, Result};

/// A listening console socket, in a short-named temporary directory (a
/// socket path must fit in 108 bytes).
pub struct Socket {
    dir: tempfile::TempDir,
    listener: UnixListener,
}

impl Socket {
    /// Listen on a new socket.
    pub fn new() -> Result<Socket> {
        let dir = tempfile::Builder::new()
            .prefix("img-console-")
            .tempdir()
            .io_context(|| "making a directory for the console socket".into())?;
        let listener = UnixListener::bind(dir.path().join("s"))
            .io_context(|| "listening on the console socket".into())?;
        Ok(Socket { dir, listener })
    }

    /// The path the runtime connects to.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("s")
    }

    /// Take the terminal master the runtime sent (it connected during
    /// `create`, which has returned).
    pub fn receive(&self) -> Result<File> {
        self.listener
            .set_nonblocking(true)
            .io_context(|| "reading the console socket".into())?;
        let (stream, _) = self
            .listener
            .accept()
            .io_context(|| "the runtime sent no terminal over the console socket".into())?;
        stream
            .set_nonblocking(false)
            .io_context(|| "reading the console socket".into())?;
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut name = [0u8; 4096];
        rustix::net::recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut name)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| Error::io("receiving the terminal from the runtime", e.into()))?;
        let mut master: Option<OwnedFd> = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for fd in fds {
                    master.get_or_insert(fd);
                }
            }
        }
        master.map(File::from).ok_or_else(|| {
            Error::io(
                "receiving the terminal from the runtime",
                io::ErrorKind::InvalidData.into(),
            )
        })
    }
}

/// img's terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    /// Put stdin's terminal (if it is one) into raw mode.
    pub fn enter() -> RawMode {
        let stdin = io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}

/// Give the container's terminal the size of img's own (stdout's, else
/// stdin's); nothing when neither is a terminal.
pub fn copy_size(master: &File) {
    let size = termios::tcgetwinsize(io::stdout().as_fd())
        .or_else(|_| termios::tcgetwinsize(io::stdin().as_fd()));
    if let Ok(size) = size {
        let _ = termios::tcsetwinsize(master.as_fd(), size);
    }
}

//! Where a program's tar stream goes: `-o FILE`, or stdout. A file is
//! written under a temporary name beside it and renamed only when the stream
//! is complete, so a failed or interrupted program never leaves a truncated
//! tar under the name asked for. stdout is refused when it is a terminal.
//! Writers are [`Sink`]s: a file's bytes (a blob saved into an archive) go
//! into them by the kernel's copy (`copy_file_range` into a file, `sendfile`
//! into a pipe), never through img's memory.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::error::{Error, IoContext, Kind, Result};

/// The output buffer: large writes, few system calls.
const BUFFER: usize = 1 << 20;

/// The most bytes one kernel copy call is asked to move (Linux moves at
/// most about 2 GiB per call anyway).
const KERNEL_COPY_CHUNK: u64 = 1 << 30;

/// A job that writes a tar stream into any sink.
pub trait TarJob {
    /// Write the stream into `out` and return it.
    fn write<W: Sink>(self, out: W) -> Result<W>;
}

/// A writer that can also take bytes straight from a file.
pub trait Sink: Write {
    /// Write the first `len` bytes of `file` (read from offset 0, whatever
    /// its position); returns how many there were (fewer when the file is
    /// shorter).
    fn copy_file(&mut self, file: &File, len: u64) -> io::Result<u64> {
        read_write(file, 0, len, self)
    }
}

impl Sink for Vec<u8> {}

impl Sink for BufWriter<File> {
    fn copy_file(&mut self, file: &File, len: u64) -> io::Result<u64> {
        self.flush()?;
        kernel_copy(file, len, self)
    }
}

impl Sink for BufWriter<io::StdoutLock<'static>> {
    fn copy_file(&mut self, file: &File, len: u64) -> io::Result<u64> {
        self.flush()?;
        kernel_copy(file, len, self)
    }
}

/// Copy by the kernel into what `out` writes to: `copy_file_range` into a
/// regular file, `sendfile` into anything else (a pipe, a socket). Where
/// the kernel cannot (an appending file, an old kernel, another file
/// system), the rest goes through a buffer.
fn kernel_copy<W: Write + AsFdOf>(file: &File, len: u64, out: &mut W) -> io::Result<u64> {
    let to_file = rustix::fs::fstat(out.fd()).map(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
    })?;
    let mut offset = 0u64;
    while offset < len {
        let chunk = (len - offset).min(KERNEL_COPY_CHUNK) as usize;
        let at = offset;
        let moved = if to_file {
            rustix::fs::copy_file_range(file, Some(&mut offset), out.fd(), None, chunk)
        } else {
            rustix::fs::sendfile(out.fd(), file, Some(&mut offset), chunk)
        };
        match moved {
            Ok(0) => return Ok(offset),
            Ok(_) => {}
            Err(e) if at == 0 && cannot_copy(e) => return read_write(file, 0, len, out),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(offset)
}

/// Errors that mean "the kernel cannot copy between these two", before any
/// byte moved.
fn cannot_copy(e: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    [
        Errno::INVAL,
        Errno::NOSYS,
        Errno::XDEV,
        Errno::OPNOTSUPP,
        Errno::BADF,
    ]
    .contains(&e)
}

/// Copy through a buffer, reading `file` by position.
fn read_write(
    file: &File,
    offset: u64,
    len: u64,
    out: &mut (impl Write + ?Sized),
) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; BUFFER.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = match file.read_at(&mut buf[..want], offset + done) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// The file descriptor under a buffered writer.
trait AsFdOf {
    fn fd(&self) -> BorrowedFd<'_>;
}

impl<W: Write + AsFd> AsFdOf for BufWriter<W> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

/// Run `job` into `output` (a file; `None` or `-` for stdout). `what` names
/// the stream in the terminal refusal (`an image archive`).
pub fn write_tar(output: Option<&Path>, what: &str, job: impl TarJob) -> Result<()> {
    match output.filter(|p| p.as_os_str() != "-") {
        Some(path) => to_file(path, job),
        None => {
            refuse_terminal_stdout(what)?;
            widen_pipe(io::stdout());
            let out = BufWriter::with_capacity(BUFFER, io::stdout().lock());
            let mut out = job.write(out)?;
            out.flush().io_context(|| "writing to stdout".into())
        }
    }
}

fn to_file(path: &Path, job: impl TarJob) -> Result<()> {
    refuse_special_file(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Errors name the file asked for, never the temporary one beside it.
    let tmp = tempfile::Builder::new()
        .prefix(".img-partial-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("writing {}", path.display()), without_path(e)))?;
    let (file, temp_path) = tmp.into_parts();
    let out = job.write(BufWriter::with_capacity(BUFFER, file))?;
    let file: File = out
        .into_inner()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
    drop(file);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&temp_path, std::fs::Permissions::from_mode(0o644))
        .io_context(|| format!("setting permissions of {}", path.display()))?;
    temp_path
        .persist(path)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e.error))
}

/// What an existing `path` is when it is not a regular file (after
/// symbolic links): `a character device`, `a directory`; `None` for a
/// regular file or a free name.
fn what_kind_of_output(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path).ok()?.file_type();
    Some(match () {
        _ if kind.is_file() => return None,
        _ if kind.is_dir() => "a directory",
        _ if kind.is_char_device() => "a character device",
        _ if kind.is_block_device() => "a block device",
        _ if kind.is_fifo() => "a named pipe",
        _ if kind.is_socket() => "a socket",
        _ => "not a regular file",
    })
}

/// `-o` replaces its file whole, by a rename over it once the stream is
/// complete: over `/dev/null` as root that would put a regular file in the
/// device's place. So, as `docker save -o` does, anything there that is not
/// a regular file is refused before any work, and left as it is.
fn refuse_special_file(path: &Path) -> Result<()> {
    match what_kind_of_output(path) {
        None => Ok(()),
        Some(kind) => Err(Error::new(
            Kind::FailedPrecondition,
            format!(
                "refusing to write to {}: it is {kind}, and -o takes a regular file or a new name; \
                 to write into it, send stdout there instead (> {})",
                path.display(),
                path.display()
            ),
        )),
    }
}

/// A `tempfile` error without the temporary path `tempfile` appends to the
/// OS error's message (` at path "…"`); it hides the OS error itself.
fn without_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    let message = text.split(" at path \"").next().unwrap_or(&text);
    io::Error::new(e.kind(), message.to_string())
}

/// Make a pipe's buffer as large as the system allows by default (1 MiB),
/// so that big blobs move in few system calls; anything that is not a pipe
/// is left alone.
pub fn widen_pipe(fd: impl std::os::fd::AsFd) {
    // Failure only means a smaller buffer (or no pipe at all): not an error.
    let _ = rustix::pipe::fcntl_setpipe_size(fd, BUFFER);
}

/// Fail when stdout is a terminal: tar streams are not for screens.
pub fn refuse_terminal_stdout(what: &str) -> Result<()> {
    if io::stdout().is_terminal() {
        return Err(Error::new(
            Kind::FailedPrecondition,
            format!("refusing to write {what} to a terminal: redirect stdout to a file or a pipe, or use -o FILE"),
        ));
    }
    Ok(())
}

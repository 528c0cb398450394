//! Where a program's tar stream goes: `-o FILE`, or stdout. A file is
//! written under a temporary name beside it and renamed only when the stream
//! is complete, so a failed or interrupted program never leaves a truncated
//! tar under the name asked for. stdout is refused when it is a terminal.
//! Writers are concrete types (`BufWriter<File>`, `BufWriter<StdoutLock>`),
//! so that copies into them can use the kernel's copy paths.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::cli::refuse_terminal_stdout;
use crate::error::{Error, IoContext, Result};

/// The output buffer: large writes, few system calls.
const BUFFER: usize = 1 << 20;

/// A job that writes a tar stream into any writer.
pub trait TarJob {
    /// Write the stream into `out` and return it.
    fn write<W: Write>(self, out: W) -> Result<W>;
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
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".img-partial-")
        .tempfile_in(dir)
        .io_context(|| format!("creating a file in {}", dir.display()))?;
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

/// Make a pipe's buffer as large as the system allows by default (1 MiB),
/// so that big blobs move in few system calls; anything that is not a pipe
/// is left alone.
pub fn widen_pipe(fd: impl std::os::fd::AsFd) {
    // Failure only means a smaller buffer (or no pipe at all): not an error.
    let _ = rustix::pipe::fcntl_setpipe_size(fd, BUFFER);
}

//! A container's output (detached or not), kept as Docker's `json-file` log driver
//! keeps it: one JSON object per line, `{"log":"text\n","stream":"stdout",
//! "time":"2026-11-30T07:17:37.123456789Z"}`, in `ID-json.log` in the
//! container's directory, bounded in size: when the file passes
//! [`MAX_SIZE`] it becomes `ID-json.log.1` (the older one goes), as Docker
//! rotates with `--log-opt max-size=10m --log-opt max-file=2`.
//!
//! [`read`] gives the entries back for `img-logs`, oldest first.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use img_core::error::{IoContext, Result};

/// The size past which the log is rotated.
pub(crate) const MAX_SIZE: u64 = 10 << 20;

/// The longest piece of a line kept as one entry (Docker's buffer size).
const MAX_LINE: usize = 16 << 10;

/// One entry of the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The text, with its newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When it was written (RFC 3339 with nanoseconds).
    pub time: String,
}

/// The log file of the container whose directory is `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// A log being written, shared by the threads copying stdout and stderr.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Mutex<Open>>,
}

struct Open {
    path: PathBuf,
    file: File,
    size: u64,
}

impl Writer {
    /// Open (append to) the log at `path`.
    pub fn open(path: &Path) -> Result<Writer> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .io_context(|| format!("opening the log {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            inner: Arc::new(Mutex::new(Open {
                path: path.to_path_buf(),
                file,
                size,
            })),
        })
    }

    fn write(&self, entry: &Entry) {
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        let Ok(mut open) = self.inner.lock() else {
            return;
        };
        if open.size + line.len() as u64 > MAX_SIZE && open.size > 0 {
            let older = open.path.with_extension("log.1");
            let _ = fs::rename(&open.path, older);
            if let Ok(file) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&open.path)
            {
                open.file = file;
                open.size = 0;
            }
        }
        if open.file.write_all(&line).is_ok() {
            open.size += line.len() as u64;
        }
    }

    /// Copy `from` into the log as `stream`, line by line, in a thread
    /// that ends when every writer of `from` closed it.
    pub fn copy(
        &self,
        from: impl Read + Send + 'static,
        stream: &'static str,
    ) -> std::thread::JoinHandle<()> {
        self.tee(from, None, stream)
    }

    /// Copy `from` into the log as `stream` and, with `to`, pass every
    /// byte on to `to` as it arrives (a prompt without a newline shows at
    /// once), in a thread that ends when every writer of `from` closed it.
    /// When `to` refuses a write (a closed pipe: `img-run … | head -1`),
    /// `from` is closed, so that the container's next write fails as it
    /// would on the closed pipe itself.
    pub fn tee(
        &self,
        mut from: impl Read + Send + 'static,
        mut to: Option<Box<dyn Write + Send>>,
        stream: &'static str,
    ) -> std::thread::JoinHandle<()> {
        let log = self.clone();
        std::thread::spawn(move || {
            let mut lines = Lines::default();
            let mut buffer = vec![0u8; 64 << 10];
            loop {
                let n = match from.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if let Some(out) = to.as_mut() {
                    if out
                        .write_all(&buffer[..n])
                        .and_then(|_| out.flush())
                        .is_err()
                    {
                        break;
                    }
                }
                lines.push(&buffer[..n], &mut |line| log.entry(line, stream));
            }
            lines.finish(&mut |line| log.entry(line, stream));
        })
    }

    fn entry(&self, line: &[u8], stream: &'static str) {
        self.write(&Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.to_string(),
            time: now(),
        });
    }
}

/// Bytes as they arrive cut into the log's entries: a line with its
/// newline, or a piece of [`MAX_LINE`] bytes of a longer one; what is left
/// at the end is an entry of its own.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.partial.len();
            let window = &bytes[..bytes.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.partial.extend_from_slice(&window[..=end]);
                    bytes = &bytes[end + 1..];
                }
                None => {
                    self.partial.extend_from_slice(window);
                    bytes = &bytes[window.len()..];
                    if self.partial.len() < MAX_LINE {
                        continue;
                    }
                }
            }
            emit(&self.partial);
            self.partial.clear();
        }
    }

    fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Every entry of the log at `path` (its rotated part first); entries that
/// do not parse are skipped. `from` is the byte offset in the current file
/// to start at (for following); the offset after the last entry read is
/// returned with them.
pub fn read(path: &Path, from: u64) -> Result<(Vec<Entry>, u64)> {
    let mut entries = Vec::new();
    if from == 0 {
        if let Ok(older) = File::open(path.with_extension("log.1")) {
            read_lines(older, &mut entries);
        }
    }
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((entries, 0)),
        Err(e) => {
            return Err(img_core::error::Error::io(
                format!("reading {}", path.display()),
                e,
            ))
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Rotated since: the new file is read from its start.
    let from = if from > len { 0 } else { from };
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(from))
        .io_context(|| format!("reading {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut offset = from;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .io_context(|| format!("reading {}", path.display()))?;
        // A line still being written is read next time.
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        offset += n as u64;
        if let Ok(entry) = serde_json::from_slice(&line) {
            entries.push(entry);
        }
    }
    Ok((entries, offset))
}

fn read_lines(file: File, entries: &mut Vec<Entry>) {
    for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
        if let Ok(entry) = serde_json::from_str(&line) {
            entries.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_as_dockers_json_file_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "abc");
        let log = Writer::open(&path).unwrap();
        log.copy(&b"one\ntwo"[..], "stdout").join().unwrap();
        log.copy(&b"err\n"[..], "stderr").join().unwrap();
        let (entries, offset) = read(&path, 0).unwrap();
        let texts: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.log.as_str(), e.stream.as_str()))
            .collect();
        assert_eq!(
            texts,
            [("one\n", "stdout"), ("two", "stdout"), ("err\n", "stderr")]
        );
        assert!(entries[0].time.ends_with('Z') && entries[0].time.contains('.'));
        let raw = fs::read_to_string(&path).unwrap();
        assert!(
            raw.starts_with("{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\""),
            "{raw}"
        );
        // Following: nothing new past the offset, then what came after.
        assert!(read(&path, offset).unwrap().0.is_empty());
        log.copy(&b"three\n"[..], "stdout").join().unwrap();
        assert_eq!(read(&path, offset).unwrap().0[0].log, "three\n");
    }

    #[test]
    fn chunks_become_lines_and_long_lines_pieces() {
        let mut lines = Lines::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        for chunk in [&b"a"[..], b"b\nc", b"\n\nd"] {
            lines.push(chunk, &mut |l| got.push(l.to_vec()));
        }
        lines.finish(&mut |l| got.push(l.to_vec()));
        assert_eq!(got, [&b"ab\n"[..], b"c\n", b"\n", b"d"]);
        got.clear();
        let long = vec![b'x'; MAX_LINE + 10];
        lines.push(&long, &mut |l| got.push(l.to_vec()));
        lines.push(b"\n", &mut |l| got.push(l.to_vec()));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], [&[b'x'; 10][..], b"\n"].concat());
    }

    #[test]
    fn a_tee_passes_bytes_on_and_stops_when_its_reader_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "abc");
        let log = Writer::open(&path).unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let to: Box<dyn Write + Send> = Box::new(out.reopen().unwrap());
        log.tee(&b"prompt> "[..], Some(to), "stdout")
            .join()
            .unwrap();
        assert_eq!(fs::read(out.path()).unwrap(), b"prompt> ");
        assert_eq!(read(&path, 0).unwrap().0[0].log, "prompt> ");
        // A closed reader (img-run ... | head -1): the container's pipe
        // is closed too.
        let (closed, _) = {
            let (r, w) = std::io::pipe().unwrap();
            (w, drop(r))
        };
        let (from, mut feed) = std::io::pipe().unwrap();
        let copying = log.tee(from, Some(Box::new(closed)), "stdout");
        let _ = feed.write_all(b"first\n");
        copying.join().unwrap();
        // A child another test forks meanwhile holds the read end until it
        // executes its program: the pipe is closed once that is done.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while feed.write_all(b"more\n").is_ok() {
            assert!(std::time::Instant::now() < deadline, "the pipe was closed");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn the_log_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "abc");
        let log = Writer::open(&path).unwrap();
        let line = vec![b'x'; 1000];
        let mut input = Vec::new();
        for _ in 0..(2 * MAX_SIZE as usize / 1000 + 10) {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        log.copy(std::io::Cursor::new(input), "stdout")
            .join()
            .unwrap();
        let size = fs::metadata(&path).unwrap().len()
            + fs::metadata(path.with_extension("log.1")).unwrap().len();
        assert!(size <= 2 * MAX_SIZE, "{size}");
        assert!(!read(&path, 0).unwrap().0.is_empty());
    }
}

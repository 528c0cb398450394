//! What `img-build PATH` reads before it builds, as `docker build` reads it:
//! the build context and the Dockerfile and its `.dockerignore`.
//!
//! * PATH a directory: the context; the Dockerfile is `-f FILE` (relative
//!   to the working directory) or `PATH/Dockerfile`.
//! * PATH `-`: stdin holds either a Dockerfile (no context), or a tar of
//!   the context (plain, gzip or zstd, recognised by its bytes), unpacked
//!   into a temporary directory that lives as long as the [`Input`]; the
//!   Dockerfile is then `-f FILE` inside it, or `Dockerfile`.
//! * `-f -`: the Dockerfile from stdin, with PATH the context.
//!
//! The ignore file is `DOCKERFILE.dockerignore` beside the Dockerfile when
//! there is one (BuildKit's rule), else the context's `.dockerignore`.

use std::io::{BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStrExt;

use img_core::confine::Root;
use img_core::error::{Error, IoContext, Kind, Result};
use img_layers::{compression, extract};

/// The most a Dockerfile given on stdin may hold.
const MAX_DOCKERFILE: u64 = 16 << 20;

/// The context and Dockerfile of a build.
pub struct Input {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name, for messages.
    pub dockerfile_name: String,
    /// The context directory (absolute), if any.
    pub context: Option<PathBuf>,
    /// The ignore file's text, if any.
    pub ignore: Option<String>,
    /// The unpacked tar context, removed when the input is dropped.
    _unpacked: Option<tempfile::TempDir>,
}

/// Read the input `img-build PATH [-f FILE]` names.
pub fn read(path: &Path, file: Option<&Path>) -> Result<Input> {
    let stdin_file = file.is_some_and(|f| f.as_os_str() == "-");
    if path.as_os_str() == "-" {
        if stdin_file {
            return Err(Error::invalid(
                "the context and the Dockerfile cannot both come from stdin",
            ));
        }
        return from_stdin(file);
    }
    if !path.is_dir() {
        return Err(Error::invalid(format!(
            "unable to prepare context: path {:?} not found (give a directory, or - to read a Dockerfile or a context tar from stdin)",
            path.display().to_string()
        )));
    }
    // Bind mounts of it are handed to the runtime, which resolves relative
    // paths from the bundle.
    let context =
        std::path::absolute(path).io_context(|| format!("resolving {}", path.display()))?;
    let (dockerfile, dockerfile_name, dockerfile_path) = if stdin_file {
        (
            read_stdin_text(&mut stdin()?)?,
            "Dockerfile".to_string(),
            None,
        )
    } else {
        let at = file.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
        let (text, name) = read_file(&at)?;
        (text, name, Some(at))
    };
    let ignore = read_ignore(dockerfile_path.as_deref(), &context)?;
    Ok(Input {
        dockerfile,
        dockerfile_name,
        context: Some(context),
        ignore,
        _unpacked: None,
    })
}

fn stdin() -> Result<std::io::StdinLock<'static>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::invalid(
            "img-build - reads a Dockerfile or a context tar from stdin, but stdin is a terminal: \
             pipe one in (img-build - < Dockerfile, tar -c . | img-build -)",
        ));
    }
    Ok(stdin.lock())
}

/// stdin: a context tar, or a Dockerfile.
fn from_stdin(file: Option<&Path>) -> Result<Input> {
    let (prefix, reader) = compression::peek(BufReader::with_capacity(1 << 20, stdin()?))?;
    let compression = compression::Compression::detect(&prefix);
    let (tar_prefix, mut decoded) =
        compression::peek_n(compression::decoder(compression, reader)?, 512)?;
    let is_tar = tar_prefix.len() >= 263 && &tar_prefix[257..262] == b"ustar";
    if !is_tar && compression == compression::Compression::None {
        return Ok(Input {
            dockerfile: read_stdin_text(&mut decoded)?,
            dockerfile_name: "Dockerfile".into(),
            context: None,
            ignore: None,
            _unpacked: None,
        });
    }
    if !is_tar {
        return Err(Error::invalid(
            "stdin is compressed but holds no tar: give a context tar (plain, gzip or zstd) or a Dockerfile",
        ));
    }
    let unpacked = tempfile::Builder::new()
        .prefix("img-build-context-")
        .tempdir()
        .io_context(|| "making a directory for the context".into())?;
    let options = extract::Options {
        preserve_owners: false,
        overlay: false,
    };
    extract::apply(&mut decoded, unpacked.path(), &options)
        .map_err(|e| e.context("unpacking the context tar from stdin"))?;
    let context = unpacked.path().to_path_buf();
    // What the tar holds decides where its links lead: the Dockerfile and
    // ignore file are read through the context's root, never out of it.
    let root = Root::open(&context)?;
    let rel = file.unwrap_or(Path::new("Dockerfile"));
    let dockerfile = read_inside(&root, rel.as_os_str().as_bytes())?.ok_or_else(|| {
        Error::invalid(format!(
            "the context tar holds no {} (name the Dockerfile inside it with -f)",
            rel.display()
        ))
    })?;
    let dockerfile_name = rel
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    let mut beside = rel.as_os_str().as_bytes().to_vec();
    beside.extend_from_slice(b".dockerignore");
    let ignore = match read_inside(&root, &beside)? {
        Some(text) => Some(text),
        None => read_inside(&root, b".dockerignore")?,
    };
    Ok(Input {
        dockerfile,
        dockerfile_name,
        context: Some(context),
        ignore,
        _unpacked: Some(unpacked),
    })
}

/// The text of the file `rel` in the unpacked context `root`, links
/// followed inside it; `None` when there is none.
fn read_inside(root: &Root, rel: &[u8]) -> Result<Option<String>> {
    let mut file = match root.open_file(rel) {
        Ok(file) => file,
        Err(e) if e.kind() == Kind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let shown = String::from_utf8_lossy(rel).into_owned();
    let mut text = String::new();
    file.read_to_string(&mut text)
        .io_context(|| format!("reading {shown} from the context tar"))?;
    Ok(Some(text))
}

fn read_stdin_text(reader: &mut impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCKERFILE + 1)
        .read_to_end(&mut bytes)
        .io_context(|| "reading the Dockerfile from stdin".into())?;
    if bytes.len() as u64 > MAX_DOCKERFILE {
        return Err(Error::invalid(
            "stdin holds more than 16 MiB and no tar: that is not a Dockerfile",
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid("the Dockerfile on stdin is not UTF-8 text"))
}

fn read_file(path: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format!(
                "reading the Dockerfile {} (name another with -f)",
                path.display()
            ),
            e,
        )
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((text, name))
}

/// `DOCKERFILE.dockerignore` beside the Dockerfile, else the context's
/// `.dockerignore`.
fn read_ignore(dockerfile: Option<&Path>, context: &Path) -> Result<Option<String>> {
    let mut candidates = Vec::new();
    if let Some(path) = dockerfile {
        let mut beside = path.as_os_str().to_owned();
        beside.push(".dockerignore");
        candidates.push(PathBuf::from(beside));
    }
    candidates.push(context.join(".dockerignore"));
    for candidate in candidates {
        match std::fs::read_to_string(&candidate) {
            Ok(text) => return Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {}", candidate.display()), e)),
        }
    }
    Ok(None)
}

//! What every program shares on its command line: the common flags,
//! reading images from arguments or records on stdin, asking before a
//! destructive step, progress on stderr ([`progress`]), and
//! [`run_main`], which prints an error once as `img-NAME: error: …` and exits
//! with 0 (success, or a closed pipe), 1 (failed) or 2 (bad input).

#![warn(missing_docs)]

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use img_core::error::{kind_of, Error, Kind, Result};

pub mod announce;
pub mod progress;
pub mod usage;
use img_store::{ImageArg, Store};

/// Flags every program has.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The image store [default: $IMG_ROOT, else $XDG_DATA_HOME/img-store, else ~/.local/share/img-store]
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
}

impl Common {
    /// Open the store these flags name.
    pub fn store(&self) -> Result<Store> {
        img_container::open_store(self.root_dir())
    }

    /// The store root these flags name (for programs that open the store
    /// more than once).
    pub fn root_dir(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(Store::default_root)
    }
}

/// The images named by `args`, or, when there are none and stdin is not a
/// terminal, by the lines of stdin: records, or image IDs and names (what
/// `img-ls -q` and `img-build -q` print), one a line.
pub fn images_from(args: &[String]) -> Result<Vec<ImageArg>> {
    if !args.is_empty() {
        return Ok(args.iter().cloned().map(ImageArg::Query).collect());
    }
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(Error::invalid(
            "no image given: name one or more images, or pipe records or image IDs into stdin",
        ));
    }
    let images = read_images(stdin.lock())?;
    if images.is_empty() {
        return Err(Error::invalid(
            "no image given: stdin held no records nor image IDs",
        ));
    }
    Ok(images)
}

/// The images `input` names, one a line: a record (a JSON object), or an
/// image ID, ID prefix or reference. Blank lines are skipped; binary
/// garbage is bad input, as a malformed record is.
pub fn read_images(input: impl io::BufRead) -> Result<Vec<ImageArg>> {
    img_core::record::read_lines(input)?
        .into_iter()
        .map(|(n, text)| {
            Ok(if img_core::record::looks_like_record(&text) {
                ImageArg::Record(Box::new(img_core::record::parse(&text, n)?))
            } else {
                ImageArg::Query(text)
            })
        })
        .collect()
}

/// The one image a program that takes a single image reads from stdin.
pub fn one_image_from_stdin(program: &str) -> Result<ImageArg> {
    let mut images = images_from(&[])?;
    if images.len() != 1 {
        return Err(Error::invalid(format!(
            "{program} takes one image, but stdin named {}",
            images.len()
        )));
    }
    Ok(images.remove(0))
}

/// stdout, buffered, for records and tables.
pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Ask before a destructive step, as Docker's prompts do: `warning`, then
/// `Are you sure you want to continue? [y/N] ` on stderr, and a line from
/// stdin (`y` or `Y` is yes; anything else, or end of input, is no). When
/// stdin is not a terminal nobody is there to answer: that is bad usage,
/// and the error ends with `hint` (the flag that skips the question).
pub fn confirm(warning: &str, hint: &str) -> Result<bool> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::invalid(format!(
            "stdin is not a terminal, so nobody can confirm: {hint}"
        )));
    }
    let mut stderr = io::stderr().lock();
    write!(
        stderr,
        "{warning}\nAre you sure you want to continue? [y/N] "
    )
    .and_then(|_| stderr.flush())
    .map_err(|e| Error::io("writing to stderr", e))?;
    let mut answer = String::new();
    stdin
        .read_line(&mut answer)
        .map_err(|e| Error::io("reading the answer from stdin", e))?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// Failures already reported on stderr, one line each, by [`for_each_image`];
/// [`run_main`] only exits with their code.
#[derive(Debug)]
pub struct Reported {
    /// The exit code the worst failure calls for.
    pub code: i32,
    /// How many items failed.
    pub failed: usize,
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} image(s) failed", self.failed)
    }
}

impl std::error::Error for Reported {}

/// Run `work` for every image, as `docker rmi` and `docker inspect` do: a
/// failure is printed at once (`img-NAME: error: …`) and the others still
/// run; when any failed, the result is a [`Reported`] error. A closed
/// stdout pipe is no failure (img.7: `img-rm a b | true` succeeds): the
/// work on every image is still done, only its lines go nowhere.
pub fn for_each_image<T>(
    program: &str,
    images: &[ImageArg],
    mut work: impl FnMut(&ImageArg) -> Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut done = Vec::new();
    let mut failed = 0;
    let mut code = 0;
    for image in images {
        match work(image) {
            Ok(value) => done.push(value),
            Err(e) if is_broken_pipe_error(&e) => {}
            Err(e) => {
                failed += 1;
                code = code.max(e.kind().exit_code());
                let e = anyhow::Error::new(e);
                let _ = writeln!(io::stderr(), "{program}: error: {}", describe(&e));
            }
        }
    }
    if failed > 0 {
        return Err(Reported { code, failed }.into());
    }
    Ok(done)
}

/// Ends a program with this exit status and no further message (it was
/// printed already, or the status is another program's, as `img-run`
/// passes on its container's).
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Print `error` as [`run_main`] does: `PROGRAM: error: …` on one line.
pub fn print_error(program: &str, error: &anyhow::Error) {
    let _ = writeln!(io::stderr(), "{program}: error: {}", describe(error));
}

/// An error and its causes on one line, each cause once.
fn describe(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for (i, cause) in e.chain().enumerate() {
        let text = cause.to_string();
        if i > 0 && (text.is_empty() || message.ends_with(&text)) {
            continue;
        }
        if i > 0 {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// Run a program's body; print its error once and exit with the code its
/// kind calls for. A closed stdout pipe (`img-ls | head -1`) is success.
pub fn run_main(program: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ! {
    // A copy of this program started to guard a container: any program
    // that runs one starts guards, and the guard only opens the store.
    img_container::owner::run_if_guard();
    // A copy of it started by the runtime as the hook that waits for a
    // container's network (`network.rs`).
    img_container::network::run_if_ready_hook();
    let code = match body() {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => match e.downcast_ref::<Reported>() {
            Some(reported) => reported.code,
            None if e.downcast_ref::<Exit>().is_some() => {
                e.downcast_ref::<Exit>().map_or(1, |exit| exit.0)
            }
            None => {
                let _ = writeln!(io::stderr(), "{program}: error: {}", describe(&e));
                e.chain().find_map(kind_of).map_or(1, Kind::exit_code)
            }
        },
    };
    // Flushing can fail on a closed pipe; the exit code is decided already.
    let _ = io::stdout().flush();
    std::process::exit(code)
}

/// [`run_main`] for a program that starts containers' monitors, copies of
/// itself (img-run, img-start; see `img_container::monitor`): a copy
/// started as a monitor becomes one. Only these programs link what runs a
/// container in the background; the others stay small.
pub fn run_main_with_monitor(program: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ! {
    img_container::monitor::run_if_monitor();
    run_main(program, body)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<Error>().is_some_and(is_broken_pipe_error)
    })
}

/// Whether an img error is a write into a closed pipe.
fn is_broken_pipe_error(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_are_records_ids_or_names() {
        let hex = "b".repeat(64);
        let input = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{hex}\",\"size\":3}}\n\n  315e3c013cd1\nsha256:{hex}\nbusybox:latest\n"
        );
        let images = read_images(input.as_bytes()).unwrap();
        let shown: Vec<String> = images.iter().map(ImageArg::display).collect();
        assert_eq!(
            shown,
            [
                format!("sha256:{hex}"),
                "315e3c013cd1".to_string(),
                format!("sha256:{hex}"),
                "busybox:latest".to_string()
            ]
        );
        assert!(matches!(images[0], ImageArg::Record(_)));
        assert!(matches!(images[1], ImageArg::Query(_)));
        let err = read_images("busybox\n{\"nope\":1}\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.to_string().contains("stdin line 2"), "{err}");
    }
}

//! What a program that made or named images prints about them on stdout.
//! Into a pipe or a file: one record per image, for the next program. On a
//! terminal: what the Docker CLI prints there for people (`Loaded image:
//! busybox:latest` from load, the new ID from import and commit, nothing
//! from tag), as `ls` prints columns only to a terminal. With `-q`, where a
//! program has it for this: the image ID alone, as `docker build -q` prints
//! it, so that `ID=$(img-build -q .)` works. One rule for pull, load,
//! import, tag, commit and build.

use std::io::{self, BufWriter, IsTerminal, Write};

use oci_spec::image::Descriptor;

use img_core::digest::Digest;
use img_core::error::{IoContext, Result};

/// How the images are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One record per image (stdout is a pipe or a file).
    Records,
    /// Docker's lines for people (stdout is a terminal).
    Terminal,
    /// The image ID alone, one a line (`-q`).
    Ids,
}

/// stdout of an image-producing program.
pub struct Announce {
    mode: Mode,
    out: BufWriter<io::StdoutLock<'static>>,
}

impl Announce {
    /// Records, or Docker's lines when stdout is a terminal; IDs alone when
    /// `ids_only` (the program's `-q`, where it means that).
    pub fn new(ids_only: bool) -> Announce {
        let mode = if ids_only {
            Mode::Ids
        } else if io::stdout().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Records
        };
        Announce {
            mode,
            out: BufWriter::new(io::stdout().lock()),
        }
    }

    /// How the images are told about: programs that also tell people on
    /// stderr do so only when stdout is not already doing it.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Tell about one image: its `record`, or on a terminal the lines
    /// Docker prints for it (none, for `docker tag`), or its ID `id`.
    pub fn image(&mut self, id: &Digest, record: &Descriptor, lines: &[String]) -> Result<()> {
        match self.mode {
            Mode::Records => img_core::record::write(&mut self.out, record),
            Mode::Terminal => lines
                .iter()
                .try_for_each(|line| writeln!(self.out, "{line}"))
                .io_context(|| "writing to stdout".into()),
            Mode::Ids => writeln!(self.out, "{id}").io_context(|| "writing to stdout".into()),
        }
    }

    /// Write out what is buffered.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().io_context(|| "writing to stdout".into())
    }
}

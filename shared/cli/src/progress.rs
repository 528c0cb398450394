//! Progress for people, on stderr, in Docker's words: one line per item
//! (`9ad63333ebc9: Pulling fs layer`, `…: Pull complete`) and plain message
//! lines (`Digest: sha256:…`), and warnings, which even quiet progress
//! prints. When stderr is a terminal, each item is one
//! live line that turns into a bar while bytes move
//! (`Downloading [=====>    ]  12.3MB/45.6MB`); otherwise only changes of
//! state are printed, one line each, as `docker pull` does into a pipe.
//! Quiet progress prints nothing but warnings. Safe to use from many threads at once.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use img_core::format::human_size_precision;
use img_core::progress::Progress;

/// Progress shown on stderr.
pub struct Stderr {
    mode: Mode,
}

enum Mode {
    Quiet,
    Lines(Mutex<()>),
    Bars {
        /// The live block under the messages; a new one after each finish,
        /// so that later messages come below what finished (Docker's order:
        /// the layers, then `Digest:` and `Status:`).
        multi: Mutex<MultiProgress>,
        items: Mutex<HashMap<String, ProgressBar>>,
    },
}

/// The width of Docker's progress bar, in characters.
const BAR_WIDTH: usize = 50;

impl Stderr {
    /// Progress on stderr: live bars when stderr is a terminal, state lines
    /// otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Stderr {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars {
                multi: Mutex::new(live_block()),
                items: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Lines(Mutex::new(()))
        };
        Stderr { mode }
    }

    fn set_line(&self, id: &str, text: String, create: bool) {
        let Mode::Bars { multi, items } = &self.mode else {
            return;
        };
        let Ok(mut items) = items.lock() else { return };
        let line = match items.get(id) {
            Some(line) => line.clone(),
            None if create => {
                let Ok(multi) = multi.lock() else { return };
                let line = multi.add(ProgressBar::new(0));
                // The template is a constant; a bad one only loses styling.
                if let Ok(style) = ProgressStyle::with_template("{prefix}: {wide_msg}") {
                    line.set_style(style);
                }
                line.set_prefix(id.to_string());
                items.insert(id.to_string(), line.clone());
                line
            }
            None => return,
        };
        line.set_message(text);
    }
}

impl Progress for Stderr {
    /// Print a line of its own (`Digest: sha256:…`).
    fn message(&self, text: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines(lock) => {
                let _held = lock.lock();
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Mode::Bars { multi, .. } => {
                if let Ok(multi) = multi.lock() {
                    let _ = multi.println(text);
                }
            }
        }
    }

    /// Print `WARNING: text`, as Docker's client prints warnings: even
    /// when quiet, since it says that something is not as configured.
    fn warn(&self, text: &str) {
        let line = format!("WARNING: {text}");
        match &self.mode {
            Mode::Bars { multi, .. } => {
                if let Ok(multi) = multi.lock() {
                    let _ = multi.println(line);
                }
            }
            Mode::Lines(lock) => {
                let _held = lock.lock();
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            Mode::Quiet => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// Set the state of item `id` (`Pulling fs layer`, `Pull complete`).
    fn status(&self, id: &str, status: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines(_) => self.message(&format!("{id}: {status}")),
            Mode::Bars { .. } => self.set_line(id, status.to_string(), true),
        }
    }

    /// Show `current` of `total` bytes of item `id` moved (`Downloading`,
    /// `Pushing`). Only a terminal shows these.
    fn bytes(&self, id: &str, action: &str, current: u64, total: u64) {
        if let Mode::Bars { .. } = self.mode {
            self.set_line(id, format!("{action} {}", bar(current, total)), false);
        }
    }

    /// Stop drawing live lines: they stay on the screen as last drawn, and
    /// later messages and lines come below them.
    fn finish(&self) {
        if let Mode::Bars { multi, items } = &self.mode {
            if let Ok(mut items) = items.lock() {
                for line in items.values() {
                    line.finish();
                }
                items.clear();
            }
            if let Ok(mut multi) = multi.lock() {
                *multi = live_block();
            }
        }
    }
}

/// A block of live lines drawn on stderr.
fn live_block() -> MultiProgress {
    MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
}

/// Docker's bar: `[=====>      ]  1.049MB/2.15MB`.
pub fn bar(current: u64, total: u64) -> String {
    let filled = if total == 0 {
        BAR_WIDTH
    } else {
        ((current.min(total) as u128 * BAR_WIDTH as u128) / total as u128) as usize
    };
    let (bars, spaces) = if filled >= BAR_WIDTH {
        (BAR_WIDTH, 0)
    } else {
        (filled, BAR_WIDTH - filled - 1)
    };
    let head = if bars >= BAR_WIDTH { "" } else { ">" };
    format!(
        "[{}{head}{}] {:>8}/{}",
        "=".repeat(bars),
        " ".repeat(spaces),
        human_size_precision(current, 4),
        human_size_precision(total, 4)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_looks_like_dockers() {
        let b = bar(1_049_000, 2_150_000);
        assert!(b.starts_with("[========================>"), "{b}");
        assert!(b.ends_with("]  1.049MB/2.15MB"), "{b}");
        assert_eq!(b.find(']'), Some(BAR_WIDTH + 1));
        let full = bar(5, 5);
        assert_eq!(full.find(']'), Some(BAR_WIDTH + 1), "{full}");
        assert_eq!(bar(0, 0).find(']'), Some(BAR_WIDTH + 1));
    }
}

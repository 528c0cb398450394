//! What a long operation (a pull, a push, a build, a run that pulls) tells
//! the person waiting for it, in Docker's words: items that change state
//! (`9ad63333ebc9: Pulling fs layer`), bytes moving for an item, and lines
//! of their own (`Digest: sha256:…`). The subsystems only report; how it is
//! shown (live bars on a terminal, state lines into a pipe) is the CLI's
//! business (`img_cli::progress`).

/// Where an operation reports its progress. Safe to use from many threads.
pub trait Progress: Sync {
    /// A line of its own (`Digest: sha256:…`).
    fn message(&self, text: &str);
    /// Something is not as configured (`WARNING: …`): shown even when the
    /// rest is quiet.
    fn warn(&self, text: &str);
    /// The state of item `id` (`Pulling fs layer`, `Pull complete`).
    fn status(&self, id: &str, status: &str);
    /// `current` of `total` bytes of item `id` moved (`Downloading`,
    /// `Pushing`).
    fn bytes(&self, id: &str, action: &str, current: u64, total: u64);
    /// The operation is over: nothing more will be reported.
    fn finish(&self);
}

/// Progress that nobody sees.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn message(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn status(&self, _: &str, _: &str) {}
    fn bytes(&self, _: &str, _: &str, _: u64, _: u64) {}
    fn finish(&self) {}
}

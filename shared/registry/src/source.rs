//! What both ways of downloading a blob (`download.rs`'s parallel ranges,
//! `stream.rs`'s one fast stream) share: where the blob comes from, and how
//! often they report progress and save what has arrived.

use std::time::Duration;

use crate::transport::auth::Scope;
use crate::transport::client::Client;

/// Where a blob comes from.
pub struct Source<'a> {
    /// The connected registry.
    pub client: &'a Client,
    /// The repository holding the blob.
    pub repository: &'a str,
    /// The access fetching needs.
    pub scope: &'a Scope,
}

/// How often the arrived ranges are saved for a later run.
pub const SAVE_EVERY_BYTES: u64 = 32 << 20;
pub const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How often the hashing thread reports progress (and, when it has nothing
/// to hash, how long it waits before looking again).
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

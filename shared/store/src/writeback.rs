//! Early writeback of a large blob while it is being written: a thread of
//! its own syncs the file every [`WRITEBACK_STEP`] bytes, so that the disk
//! writes while the bytes still arrive and the closing fsync does not wait
//! for a gigabyte at once. The writer never waits for it.

use std::fs::File;
use std::io;
use std::sync::mpsc;

use img_core::error::{Error, IoContext, Kind, Result};

/// Bytes written between two early writebacks.
const WRITEBACK_STEP: u64 = 32 << 20;

/// The writeback thread of one file. A step that comes while a sync runs
/// is folded into the next. A failed sync fails the write (an error a sync
/// reports is not reported again by a later one).
pub struct Flusher<'scope> {
    steps: mpsc::SyncSender<()>,
    thread: std::thread::ScopedJoinHandle<'scope, io::Result<()>>,
    unsynced: u64,
}

impl<'scope> Flusher<'scope> {
    /// Start the writeback thread for `file`.
    pub fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        file: &File,
    ) -> Result<Self> {
        let file = file
            .try_clone()
            .io_context(|| "opening a blob for writeback".into())?;
        let (steps, step_rx) = mpsc::sync_channel::<()>(1);
        let thread = scope.spawn(move || {
            for () in step_rx {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(Flusher {
            steps,
            thread,
            unsynced: 0,
        })
    }

    /// `n` more bytes were written.
    pub fn wrote(&mut self, n: usize) {
        self.unsynced += n as u64;
        if self.unsynced >= WRITEBACK_STEP {
            // Full: a sync is queued that covers these bytes too. Gone: the
            // thread failed, which finish() reports.
            let _ = self.steps.try_send(());
            self.unsynced = 0;
        }
    }

    /// Wait for the last sync; its failure, or an earlier one.
    pub fn finish(self) -> Result<()> {
        drop(self.steps);
        self.thread
            .join()
            .map_err(|_| Error::new(Kind::Io, "the writeback thread failed"))?
            .io_context(|| "writing a blob back to disk".into())
    }
}

//! Running out of disk space: a full file system told apart from every other
//! failure (it is the machine's state, not bad input: exit 1, never "corrupt
//! archive"), and an error that says how much was needed, how much is free,
//! and what would free space — the partial downloads no pull holds (kept
//! for resuming, which `img-prune --system` removes whatever their age)
//! and the images nobody uses.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::Store;
use img_core::digest::Digest;
use img_core::error::{Error, Kind};
use img_core::format::human_size_precision;

/// Whether `error` (or any error in its chain) is the file system saying it
/// is full: no space left (ENOSPC) or the user's quota used up (EDQUOT).
pub fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let full = matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(
                io.raw_os_error(),
                Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
                    || code == rustix::io::Errno::DQUOT.raw_os_error()
            );
            if full {
                return true;
            }
            // An io::Error may carry another error (tempfile's path error,
            // an img Error) whose source is the real one.
            if let Some(inner) = io.get_ref() {
                if is_disk_full(inner) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

impl Store {
    /// The bytes an unprivileged writer may still use on the store's file
    /// system, when the system says.
    pub fn free_space(&self) -> Option<u64> {
        let stat = rustix::fs::statvfs(self.root()).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// The bytes of the blob `digest` (of `size` bytes) already on disk in
    /// its partial download.
    pub fn partial_bytes(&self, digest: &Digest, size: u64) -> u64 {
        let path = self
            .state_dir()
            .join("ingest")
            .join(format!("partial-{}", digest.digest()));
        // Allocated blocks, not the length: a download writes at offsets.
        fs::metadata(path).map_or(0, |m| (m.blocks() * 512).min(size))
    }

    /// The partial downloads of the ingest area and the bytes they take.
    fn partial_usage(&self) -> (usize, u64) {
        let dir = self.state_dir().join("ingest");
        let Ok(entries) = fs::read_dir(dir) else {
            return (0, 0);
        };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("partial-"))
            .filter_map(|e| e.metadata().ok())
            .fold((0, 0), |(n, bytes), m| (n + 1, bytes + m.blocks() * 512))
    }

    /// `error` when it is not the disk being full; else an error that says
    /// so, with how much `doing` still `needed` (when known), what is free,
    /// and how to free space, and `error` as its cause.
    pub fn out_of_space(&self, error: Error, doing: &str, needed: Option<u64>) -> Error {
        if !is_disk_full(&error) {
            return error;
        }
        let size = |n: u64| human_size_precision(n, 4);
        let free = self.free_space().map_or_else(|| "little".to_string(), size);
        let mut message = format!("the disk is full: {doing}");
        match needed {
            Some(needed) => message.push_str(&format!(
                " needs {} more, and the file system of {} has {free} free",
                size(needed),
                self.root().display()
            )),
            None => message.push_str(&format!(
                " ran out of space on the file system of {} ({free} free)",
                self.root().display()
            )),
        }
        message.push_str(
            "; make room and run it again (img-prune --system -f removes the partial downloads no pull holds",
        );
        let (partials, bytes) = self.partial_usage();
        if partials > 0 {
            message.push_str(&format!(" ({} here)", size(bytes)));
        }
        message.push_str(
            ", stopped containers, dangling images and unused build cache; img-rm removes an image)",
        );
        Error::new(Kind::Io, message).with_source(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use img_core::error::IoContext;

    #[test]
    fn a_full_disk_is_told_apart_through_any_wrapping() {
        let full = std::io::Error::from_raw_os_error(28);
        assert!(is_disk_full(&full));
        let quota = std::io::Error::from_raw_os_error(122);
        assert!(is_disk_full(&quota));
        // tempfile wraps the OS error in one of its own, with the path
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            Error::new(Kind::Io, "at path /x"),
        );
        assert!(is_disk_full(&wrapped));
        let ours: img_core::error::Result<()> = Err(full).io_context(|| "writing".into());
        let ours = ours.unwrap_err().context("loading");
        assert!(is_disk_full(&ours));
        let other = std::io::Error::from_raw_os_error(5);
        assert!(!is_disk_full(&other));
        assert!(!is_disk_full(&Error::invalid("bad tar")));
    }

    #[test]
    fn the_error_says_what_was_needed_and_how_to_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cause = Error::io("writing blob", std::io::Error::from_raw_os_error(28));
        let err = store.out_of_space(cause, "this pull", Some(5_000_000));
        assert_eq!(err.kind(), Kind::Io);
        let text = err.to_string();
        assert!(
            text.starts_with("the disk is full: this pull needs 5MB more"),
            "{text}"
        );
        assert!(text.contains("img-prune --system -f"), "{text}");
        let other = store.out_of_space(Error::invalid("bad"), "this pull", None);
        assert_eq!(other.kind(), Kind::InvalidInput);
    }
}

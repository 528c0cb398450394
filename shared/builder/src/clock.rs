//! The times a build writes: its history entries' and the image's
//! `created`, and the modification times of the files in the layers it
//! makes.
//!
//! Without a source date epoch they are the times things happened. With
//! one (`SOURCE_DATE_EPOCH`, or `--source-date-epoch`), every time later
//! than the epoch is written as the epoch, as BuildKit clamps the config
//! times (and, with `rewrite-timestamp`, the layers' file times) and
//! buildah's `--source-date-epoch` does: the same Dockerfile, context and
//! base then give the same image, byte for byte, on any machine and any
//! day. Times of the base image are never changed.

use chrono::{DateTime, Utc};

use img_core::error::{Error, Result};
use img_layers::create::Options as LayerOptions;

/// The build's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// The source date epoch, when the build is reproducible.
    epoch: Option<DateTime<Utc>>,
}

impl Clock {
    /// A clock clamped to `epoch` (seconds since 1970), or a plain one.
    pub fn new(epoch: Option<i64>) -> Result<Clock> {
        let epoch = epoch
            .map(|seconds| {
                DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
                    Error::invalid(format!(
                        "source date epoch {seconds} is out of range (seconds since 1970)"
                    ))
                })
            })
            .transpose()?;
        Ok(Clock { epoch })
    }

    /// Read a source date epoch as `SOURCE_DATE_EPOCH` holds it.
    pub fn parse_epoch(text: &str) -> Result<i64> {
        text.trim().parse::<i64>().map_err(|_| {
            Error::invalid(format!(
                "source date epoch {text:?} is not a number of seconds since 1970"
            ))
        })
    }

    /// The epoch, when there is one.
    pub fn epoch(&self) -> Option<DateTime<Utc>> {
        self.epoch
    }

    /// The time to write for something happening now.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match self.epoch {
            Some(epoch) if epoch < now => epoch,
            _ => now,
        }
    }

    /// How the layers of the build are written: file times later than the
    /// epoch written as the epoch.
    pub fn layer_options(&self) -> LayerOptions {
        LayerOptions {
            clamp_mtime: self
                .epoch
                .map(|e| u64::try_from(e.timestamp()).unwrap_or(0)),
            ..LayerOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_clamps_what_is_later() {
        let plain = Clock::new(None).unwrap();
        assert!(plain.layer_options().clamp_mtime.is_none());
        let past = Clock::new(Some(86400)).unwrap();
        assert_eq!(past.now().timestamp(), 86400);
        assert_eq!(past.layer_options().clamp_mtime, Some(86400));
        // An epoch in the future does not move times forward.
        let future = Clock::new(Some(4_000_000_000)).unwrap();
        assert!(future.now() < future.epoch().unwrap());
        assert_eq!(Clock::parse_epoch(" 42 ").unwrap(), 42);
        assert!(Clock::parse_epoch("yesterday").is_err());
    }
}

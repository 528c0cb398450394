//! `img-prune`: what `docker image prune` removes, and the store's own
//! cleaning that `docker system prune` does for Docker.
//!
//! * **Which containers** (with `containers`, as `docker container prune`):
//!   every stopped one (no img-run holds it, and its process is gone), with
//!   its writable layer; `until=` applies to their creation time.
//! * **Which images**: dangling ones, as `img-ls --filter dangling=true`
//!   lists them (the one definition, in [`crate::ls`]: no name), or with
//!   `all` every image; either way, never an image a container (left after
//!   the containers' prune) was made from.
//!   Docker's prune filters narrow the choice: `until=` (created at or
//!   before that time), `label=KEY[=VALUE]` (must carry each), and
//!   `label!=KEY[=VALUE]` (must carry none).
//! * **How**: each image is deleted with its names through [`remove::delete`],
//!   the code `img-rm` uses; a dangling image that was named meanwhile is
//!   kept. Then one garbage collection, waiting for running writers (new
//!   ones queue behind it; the wait is bounded, see `store/gclock.rs`),
//!   removes every blob no image reaches — the pruned images' and any left
//!   behind before (an interrupted load, an img-rm that found the store
//!   busy) — the ingest area's abandoned temporary files, and resumable
//!   partial downloads that no pull holds: those idle for longer than
//!   [`PARTIAL_MAX_AGE`](img_store::PARTIAL_MAX_AGE), or with
//!   `every_partial` (`-a`, `--system`) every one, whatever its age (Docker's
//!   `system prune` reclaims all that is unused; this is how the space of a
//!   pull that filled the disk is freed on demand).
//! * **The report** is Docker's: `Deleted Images:`, `untagged: NAME` and
//!   `deleted: sha256:…` lines (each image's ID and removed layers, then the
//!   other blobs removed), and `Total reclaimed space:` counting every blob
//!   and partial download removed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::ls::{self as listing, ImageSummary};
use crate::rm::{self as remove, Names, Outcome};
use img_container::Containers;
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::format;
use img_core::image::Target;
use img_core::timestamp;
use img_store::{BuildCache, Store, SweepOptions, SweepReport};

/// The question Docker asks before pruning dangling images.
pub(crate) const DANGLING_WARNING: &str = "WARNING! This will remove all dangling images.";

/// The question Docker asks before pruning all images.
pub(crate) const ALL_WARNING: &str =
    "WARNING! This will remove all images without at least one container associated to them.";

/// Docker's image prune filters, parsed from `--filter KEY=VALUE`.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    until: Option<DateTime<Utc>>,
    labels: Vec<(String, Option<String>)>,
    not_labels: Vec<(String, Option<String>)>,
    /// The filters as given (`key=value`), for the warning.
    given: Vec<String>,
}

impl Filters {
    /// Parse `--filter` values (`until=`, `label=`, `label!=`); durations
    /// count back from `now`. Anything else is bad input.
    pub fn parse(filters: &[String], now: DateTime<Utc>) -> Result<Filters> {
        let mut parsed = Filters::default();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(Error::invalid(format!(
                    "bad format of filter {filter:?} (expected name=value)"
                )));
            };
            let label = || match value.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (value.to_string(), None),
            };
            let key_name = key.trim().to_ascii_lowercase();
            parsed.given.push(format!("{key_name}={value}"));
            match key_name.as_str() {
                "until" => {
                    if parsed.until.is_some() {
                        return Err(Error::invalid("more than one until filter specified"));
                    }
                    let until = timestamp::parse(value.trim(), now)
                        .context(format!("invalid value for 'until' filter {value:?}"))?;
                    parsed.until = Some(until);
                }
                "label" => parsed.labels.push(label()),
                "label!" => parsed.not_labels.push(label()),
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter '{}' (img-prune knows until, label and label!; \
                         -a prunes every image, not only dangling ones)",
                        key.trim()
                    )))
                }
            }
        }
        Ok(parsed)
    }

    /// The filters as `docker system prune` lists them in its warning:
    /// `key=value`, sorted.
    pub fn shown(&self) -> Vec<String> {
        let mut shown = self.given.clone();
        shown.sort();
        shown
    }

    /// Whether the image passes every filter, as the Docker daemon decides:
    /// with `until`, an image without a creation time is kept.
    fn matches(&self, image: &ImageSummary) -> bool {
        if let Some(until) = self.until {
            if image.target.created().is_none_or(|created| created > until) {
                return false;
            }
        }
        if self.labels.is_empty() && self.not_labels.is_empty() {
            return true;
        }
        let labels = image.labels();
        let has = |(key, value): &(String, Option<String>)| match value {
            Some(value) => labels.get(key) == Some(value),
            None => labels.contains_key(key),
        };
        self.labels.iter().all(has) && !self.not_labels.iter().any(has)
    }
}

/// What `img-prune` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Every image, not only dangling ones (`-a`).
    pub all: bool,
    /// `--filter` values.
    pub filters: Filters,
    /// Stopped containers too, first.
    pub containers: bool,
    /// What of the build cache goes (`docker builder prune`, with `-a`
    /// all of it).
    pub build_cache: BuildCache,
    /// Every partial download no pull holds, whatever its age (`-a`,
    /// `--system`), not only those idle for a day.
    pub every_partial: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            all: false,
            filters: Filters::default(),
            containers: false,
            build_cache: BuildCache::Keep,
            every_partial: false,
        }
    }
}

impl Options {
    /// The warning to confirm before pruning, in Docker's words: `docker
    /// image prune`'s for images alone, else `docker system prune`'s list
    /// (without its networks, which img has none of) and the filters.
    pub fn warning(&self) -> String {
        let images = if self.all {
            ALL_WARNING
        } else {
            DANGLING_WARNING
        };
        if !self.containers && self.build_cache == BuildCache::Keep {
            return images.to_string();
        }
        let mut text = String::from("WARNING! This will remove:");
        if self.containers {
            text.push_str("\n  - all stopped containers");
        }
        text.push_str(if self.all {
            "\n  - all images without at least one container associated to them"
        } else {
            "\n  - all dangling images"
        });
        match self.build_cache {
            BuildCache::Keep => {}
            BuildCache::Unused => text.push_str("\n  - unused build cache"),
            BuildCache::All => text.push_str("\n  - all build cache"),
        }
        text.push('\n');
        let shown = self.filters.shown();
        if !shown.is_empty() {
            text.push_str("\n  Items to be pruned will be filtered with:");
            for filter in shown {
                text.push_str(&format!("\n  - {filter}"));
            }
            text.push('\n');
        }
        text
    }
}

/// What a prune did.
#[derive(Debug, Default)]
pub struct Report {
    /// The IDs of the containers removed.
    pub containers: Vec<String>,
    /// The build cache entries and cache mounts removed.
    pub build_cache: Vec<String>,
    /// `untagged:` and `deleted:` lines, in order.
    pub deleted: Vec<Outcome>,
    /// Bytes freed: blobs, abandoned temporary files, partial downloads.
    pub reclaimed: u64,
    /// Images that could not be removed (the others were).
    pub failures: Vec<Error>,
}

impl Report {
    /// The report as `docker image prune` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.containers.is_empty() {
            out.push_str("Deleted Containers:\n");
            for id in &self.containers {
                out.push_str(id);
                out.push('\n');
            }
            out.push('\n');
        }
        if !self.deleted.is_empty() {
            out.push_str("Deleted Images:\n");
            for outcome in &self.deleted {
                match outcome {
                    Outcome::Untagged(name) => out.push_str(&format!("untagged: {name}\n")),
                    Outcome::Deleted(digest) => out.push_str(&format!("deleted: {digest}\n")),
                }
            }
            out.push('\n');
        }
        if !self.build_cache.is_empty() {
            out.push_str("Deleted build cache objects:\n");
            for id in &self.build_cache {
                out.push_str(id);
                out.push('\n');
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "Total reclaimed space: {}\n",
            // Docker prints this with go-units' HumanSize: 4 digits.
            format::human_size_precision(self.reclaimed, 4)
        ));
        out
    }
}

/// Prune the store as `options` say; see the module docs.
pub fn prune(store: &Store, options: &Options) -> Result<Report> {
    let mut report = Report::default();
    let mut container_bytes = 0;
    if options.containers {
        container_bytes = prune_containers(store, options, &mut report)?;
    }
    let in_use: HashSet<Digest> = img_container::Containers::of(store)
        .list()?
        .into_iter()
        .map(|c| c.image)
        .collect();
    let names = if options.all {
        Names::All
    } else {
        Names::Unnamed
    };
    let mut pruned: Vec<(Target, Vec<Outcome>)> = Vec::new();
    for image in select(store, options)? {
        let target = image.target;
        if in_use.contains(target.id()) {
            continue;
        }
        let id = target.id().clone();
        match remove::delete(store, target.clone(), names, true) {
            Ok(outcomes) if outcomes.is_empty() => {}
            Ok(outcomes) => pruned.push((target, outcomes)),
            // Removed by another program meanwhile: nothing left to do.
            Err(e) if e.kind() == Kind::NotFound => {}
            Err(e) => report
                .failures
                .push(e.context(format!("removing image {}", img_core::digest::short(&id)))),
        }
    }
    let sweep = collect(store, options, &mut report)?;
    // The nightly prune is also where the snapshots made since are synced,
    // so that a power loss afterwards leaves none of them suspect.
    img_store::Snapshots::of(store).sync()?;
    report.deleted = lines(&pruned, &sweep.removed);
    report.reclaimed = sweep.freed + sweep.ingest_freed + sweep.build_cache_freed + container_bytes;
    // Cache entries whose layers went with the images go in any prune;
    // they are reported when the build cache was asked about, as `docker
    // system prune` and `docker builder prune` report theirs.
    if options.build_cache != BuildCache::Keep {
        report.build_cache = sweep.build_cache;
    }
    Ok(report)
}

/// Remove every stopped container that passes the `until` filter; the
/// bytes their directories held.
fn prune_containers(store: &Store, options: &Options, report: &mut Report) -> Result<u64> {
    let mut freed = 0;
    for container in img_container::Containers::of(store).list()? {
        let dir = img_container::Containers::of(store).dir_of(&container.id);
        if dir.is_held() || still_running(&container) {
            continue;
        }
        if let Some(until) = options.filters.until {
            let created = img_core::timestamp::parse_rfc3339(&container.created);
            if created.is_none_or(|c| c > until) {
                continue;
            }
        }
        let bytes = img_store::tree_size(dir.path());
        match img_container::Containers::of(store).remove(&container) {
            Ok(()) => {
                freed += bytes;
                report.containers.push(container.id);
            }
            Err(e) => report.failures.push(e),
        }
    }
    Ok(freed)
}

/// Whether a container said to run still has its process (the img-run
/// that ran it was killed, the process lives on).
fn still_running(container: &img_container::Container) -> bool {
    match container.state {
        img_container::State::Running { pid, .. } => rustix::process::Pid::from_raw(pid)
            .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok()),
        _ => false,
    }
}

/// Garbage-collect, waiting for running writers when there are any (new
/// writers queue behind this prune meanwhile). When they do not finish in
/// time, nothing is collected and the failure is reported.
fn collect(store: &Store, options: &Options, report: &mut Report) -> Result<SweepReport> {
    let in_use = || Containers::of(store).layers();
    let sweep = SweepOptions {
        build_cache: options.build_cache,
        every_partial: options.every_partial,
    };
    if let Some(swept) = store.sweep_all(false, &sweep, &in_use)? {
        return Ok(swept);
    }
    match store.sweep_all(true, &sweep, &in_use) {
        Ok(sweep) => Ok(sweep.unwrap_or_default()),
        Err(e) if e.kind() == Kind::Conflict => {
            report.failures.push(e.context("collecting garbage"));
            Ok(SweepReport::default())
        }
        Err(e) => Err(e),
    }
}

/// The report's lines: each pruned image's names and ID with the layers the
/// collection `removed`, then the other blobs it removed (no image reached
/// them before this prune), by digest.
fn lines(pruned: &[(Target, Vec<Outcome>)], removed: &[Digest]) -> Vec<Outcome> {
    // A layer several pruned images share is reported with the last of
    // them, where deleting them one by one, as Docker does, frees it.
    let mut last_user: HashMap<Digest, usize> = HashMap::new();
    for (at, (target, _)) in pruned.iter().enumerate() {
        for outcome in remove::deleted_layers(target, removed) {
            if let Outcome::Deleted(digest) = outcome {
                last_user.insert(digest, at);
            }
        }
    }
    let mut lines = Vec::new();
    let mut known: HashSet<Digest> = HashSet::new();
    for (at, (target, outcomes)) in pruned.iter().enumerate() {
        known.extend(blobs_of(target));
        lines.extend(outcomes.iter().cloned());
        for outcome in remove::deleted_layers(target, removed) {
            if matches!(&outcome, Outcome::Deleted(d) if last_user.get(d) == Some(&at)) {
                lines.push(outcome);
            }
        }
    }
    let others = removed.iter().filter(|d| !known.contains(*d));
    lines.extend(others.cloned().map(Outcome::Deleted));
    lines
}

/// The images to prune, newest first: dangling ones as `img-ls` defines
/// them (or all), that pass the filters.
fn select(store: &Store, options: &Options) -> Result<Vec<ImageSummary>> {
    let which = if options.all {
        listing::Filters::default()
    } else {
        listing::Filters::parse(&["dangling=true".to_string()])?
    };
    Ok(listing::list(store, &which)?
        .into_iter()
        .filter(|image| options.filters.matches(image))
        .collect())
}

/// Every blob of `target`: its manifest or index, and each present image's
/// manifest, config and layers.
fn blobs_of(target: &Target) -> Vec<Digest> {
    let mut blobs = vec![target.digest().clone()];
    let images = match target {
        Target::Image(image) => vec![image.as_ref()],
        Target::Index(index) => {
            blobs.extend(index.index.manifests().iter().map(|m| m.digest().clone()));
            index.images.iter().collect()
        }
    };
    for image in images {
        blobs.push(image.descriptor.digest().clone());
        blobs.push(image.manifest.config().digest().clone());
        blobs.extend(image.manifest.layers().iter().map(|l| l.digest().clone()));
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn parses_docker_prune_filters() {
        let f = Filters::parse(
            &[
                "until=24h".into(),
                "label=app=demo".into(),
                "label=tier".into(),
                "label!=keep".into(),
                "LABEL!=env=prod".into(),
            ],
            now(),
        )
        .unwrap();
        assert_eq!(f.until, Some("2026-11-21T12:00:00Z".parse().unwrap()));
        assert_eq!(
            f.labels,
            vec![("app".into(), Some("demo".into())), ("tier".into(), None)]
        );
        assert_eq!(
            f.not_labels,
            vec![("keep".into(), None), ("env".into(), Some("prod".into()))]
        );
        let f = Filters::parse(&["until=2026-11-01T10:00:00Z".into()], now()).unwrap();
        assert_eq!(f.until, Some("2026-11-01T10:00:00Z".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_filters() {
        for bad in [
            vec!["dangling=true"],
            vec!["reference=busybox"],
            vec!["until"],
            vec!["until=tomorrow"],
            vec!["until=1h", "until=2h"],
        ] {
            let bad: Vec<String> = bad.into_iter().map(String::from).collect();
            let err = Filters::parse(&bad, now()).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn system_prune_warns_as_docker() {
        let system = Options {
            containers: true,
            build_cache: BuildCache::Unused,
            ..Options::default()
        };
        // docker system prune's confirmation template, without networks
        assert_eq!(
            format!("{}\nAre you sure you want to continue? [y/N] ", system.warning()),
            "WARNING! This will remove:\n  - all stopped containers\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
        );
        let all = Options {
            all: true,
            build_cache: BuildCache::All,
            filters: Filters::parse(&["until=24h".into(), "label=a=b".into()], now()).unwrap(),
            ..system
        };
        assert_eq!(
            all.warning(),
            "WARNING! This will remove:\n  - all stopped containers\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n  - until=24h\n"
        );
        assert_eq!(Options::default().warning(), DANGLING_WARNING);
    }

    #[test]
    fn system_report_in_dockers_order() {
        let digest = img_core::digest::from_hex(&"a".repeat(64)).unwrap();
        let report = Report {
            containers: vec!["c1".into()],
            deleted: vec![Outcome::Deleted(digest.clone())],
            build_cache: vec!["k1".into()],
            reclaimed: 2_000,
            ..Report::default()
        };
        assert_eq!(
            report.render(),
            format!("Deleted Containers:\nc1\n\nDeleted Images:\ndeleted: {digest}\n\nDeleted build cache objects:\nk1\n\nTotal reclaimed space: 2kB\n")
        );
    }

    #[test]
    fn report_in_dockers_words() {
        let digest = img_core::digest::from_hex(&"a".repeat(64)).unwrap();
        let report = Report {
            deleted: vec![
                Outcome::Untagged("busybox:latest".into()),
                Outcome::Deleted(digest.clone()),
            ],
            reclaimed: 1_234_567,
            ..Report::default()
        };
        assert_eq!(
            report.render(),
            format!(
                "Deleted Images:\nuntagged: busybox:latest\ndeleted: {digest}\n\nTotal reclaimed space: 1.235MB\n"
            )
        );
        assert_eq!(Report::default().render(), "Total reclaimed space: 0B\n");
    }
}

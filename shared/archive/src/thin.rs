//! Thin archives, for moving images into a site that already holds most of
//! their layers (an air-gapped network, a slow link): `img-save` leaves out
//! the layers the receiving store has, and `img-load` there completes the
//! images from its own store.
//!
//! The format is img's ordinary archive (an OCI image layout, plus Docker's
//! `manifest.json` in the docker format) without the left-out layer files.
//! The OCI image layout allows that — "the blobs directory MAY be missing
//! referenced blobs" — and the layout's `index.json` says which are
//! missing, in the [`BLOBS_LEFT_OUT`] annotation: their digests, sorted,
//! separated by commas. Only layers are ever left out; manifests and
//! configs always travel (they are small, and they are what tells the
//! receiving side what it needs).
//!
//! What the receiving side has comes as a list (`--exclude-blobs-from`):
//! digests one a line (`img-ls --blobs` there prints them), or records
//! (`img-ls --json` there), a record of an image this store holds standing
//! for all of its blobs; or as an image of this store that the other side
//! has too (`--exclude-image`).
//!
//! Peers that read the full format never load a broken image from a thin
//! archive: every layer is named by its digest, so a loader either finds it
//! (Docker 20.10 looks for a layer it already has by its chain ID before
//! opening the file; podman and skopeo reuse a blob their destination has)
//! or fails on the missing file before it names anything.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::BufRead;
use std::path::Path;

use oci_spec::image::Descriptor;

use img_core::digest::{self, Digest};
use img_core::error::{Error, IoContext, Kind, Result, ResultExt};
use img_core::image::{is_index, is_manifest};
use img_store::ImageArg;
use img_store::Store;

/// The `index.json` annotation of a thin archive: the digests of the blobs
/// it leaves out, sorted, comma-separated.
pub const BLOBS_LEFT_OUT: &str = "io.img.archive.blobs-left-out";

/// Blobs the receiving side has: an archive leaves out the layers among them.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    digests: HashSet<Digest>,
}

impl Exclusions {
    /// No exclusions: a full archive.
    pub fn none() -> Exclusions {
        Exclusions::default()
    }

    /// Whether the blob is to be left out (when it is a layer).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.digests.contains(digest)
    }

    /// Add what the list in `path` names (`-`: stdin); see [`Exclusions::read`].
    pub fn read_file(&mut self, store: &Store, path: &Path) -> Result<()> {
        if path == Path::new("-") {
            let stdin = std::io::stdin();
            return self.read(store, stdin.lock(), "stdin");
        }
        let file =
            std::fs::File::open(path).io_context(|| format!("opening {}", path.display()))?;
        self.read(
            store,
            std::io::BufReader::new(file),
            &path.display().to_string(),
        )
    }

    /// Add what a list names: one `sha256:HEX` digest a line, or a record
    /// (an OCI descriptor as JSON); a record of an image or index this store
    /// holds stands for every blob of it. Blank lines and `#` comments are
    /// skipped. `what` names the list in errors.
    pub fn read(&mut self, store: &Store, input: impl BufRead, what: &str) -> Result<()> {
        for (n, line) in input.lines().enumerate() {
            let line = line.io_context(|| format!("reading {what}"))?;
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let at = || format!("{what}:{}", n + 1);
            if text.starts_with('{') {
                let record: Descriptor = serde_json::from_str(text).map_err(|e| {
                    Error::invalid(format!("{}: not a record (an OCI descriptor): {e}", at()))
                })?;
                self.add_record(store, &record).with_context(at)?;
            } else {
                let digest = digest::parse(text).map_err(|e| {
                    Error::invalid(format!(
                        "{}: {e} (give one sha256:HEX digest or one record a line)",
                        at()
                    ))
                })?;
                self.digests.insert(digest);
            }
        }
        Ok(())
    }

    /// Add every blob of `image` (from this store): the other side has it.
    pub fn add_image(&mut self, store: &Store, image: &ImageArg) -> Result<()> {
        let found = image
            .resolve(store)
            .with_context(|| format!("--exclude-image {}", image.display()))?;
        self.digests
            .extend(found.target.blobs().into_iter().map(|d| d.digest().clone()));
        Ok(())
    }

    fn add_record(&mut self, store: &Store, record: &Descriptor) -> Result<()> {
        let kind = record.media_type();
        if (is_manifest(kind) || is_index(kind)) && store.has_blob(record.digest()) {
            let target = store.load_target(record)?;
            self.digests
                .extend(target.blobs().into_iter().map(|d| d.digest().clone()));
        }
        self.digests.insert(record.digest().clone());
        Ok(())
    }
}

/// The annotation value for `left_out`.
pub fn annotation(left_out: &HashSet<Digest>) -> String {
    let sorted: BTreeSet<String> = left_out.iter().map(|d| d.to_string()).collect();
    sorted.into_iter().collect::<Vec<_>>().join(",")
}

/// The blobs an archive's `index.json` annotations say are left out.
pub fn declared(
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> HashSet<String> {
    annotations
        .and_then(|a| a.get(BLOBS_LEFT_OUT))
        .map(|v| {
            v.split(',')
                .filter_map(|d| digest::parse(d.trim()).ok())
                .map(|d| d.to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The error for blobs neither the archive nor the store has: each with
/// the images that need it. Exit 1 when the archive declared them left out
/// (this store lacks what the sender thought it had), 2 when the archive
/// is simply incomplete.
pub fn missing_error(missing: &BTreeMap<String, Vec<String>>, declared: &HashSet<String>) -> Error {
    let list = missing
        .iter()
        .map(|(digest, images)| format!("{digest} (needed by {})", images.join(", ")))
        .collect::<Vec<_>>()
        .join(", ");
    if missing.keys().all(|d| declared.contains(d)) {
        Error::new(
            Kind::NotFound,
            format!(
                "the archive leaves out blobs that this store does not have: {list}; load or pull the image they come from first (img-ls --blobs here lists what this store has, for img-save --exclude-blobs-from), or ask for an archive made against it"
            ),
        )
    } else {
        Error::invalid(format!(
            "the archive lacks blobs that this store does not have either: {list}"
        ))
    }
}

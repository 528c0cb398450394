//! Verification of a whole store: every blob hashes to its name, every
//! image an entry of `index.json` names is complete (manifest, config and
//! layers present and verified), and no temporary file of a finished write is
//! left behind. A multi-platform index may lack some platforms' manifests
//! (a pull keeps the platforms asked for); everything else missing is a
//! problem. The test suite runs this after every command that changes a
//! store.

use std::collections::HashSet;
use std::fs;
use std::io;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::Store;
use img_core::digest::{self, Digest, DigestReader};
use img_core::error::{IoContext, Result};
use img_core::image::{is_index, is_manifest};

impl Store {
    /// Every inconsistency found in the store, one line each (empty when the
    /// store is sound). Reads every blob once.
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut verified: HashSet<String> = HashSet::new();
        let dir = self.blob_dir();
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(expected) = digest::from_hex(&name) else {
                problems.push(format!("blobs/sha256/{name}: not named by a sha256 digest"));
                continue;
            };
            if name.len() != 64 || !entry.file_type().is_ok_and(|t| t.is_file()) {
                problems.push(format!("blobs/sha256/{name}: not a blob file"));
                continue;
            }
            let file =
                fs::File::open(entry.path()).io_context(|| format!("opening blob {expected}"))?;
            let mut reader = DigestReader::new(io::BufReader::with_capacity(1 << 20, file));
            io::copy(&mut reader, &mut io::sink())
                .io_context(|| format!("reading blob {expected}"))?;
            let (actual, _) = reader.digest();
            if actual == expected {
                verified.insert(name);
            } else {
                problems.push(format!("blob {expected}: content hashes to {actual}"));
            }
        }
        let index = self.index()?;
        for entry in index.entries() {
            let label = entry
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("<none> {}", entry.digest()));
            self.verify_tree(&entry.descriptor, &verified, false, &label, &mut problems);
        }
        let ingest = self.state_dir().join("ingest");
        for entry in fs::read_dir(&ingest).io_context(|| format!("listing {}", ingest.display()))? {
            let entry = entry.io_context(|| format!("listing {}", ingest.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("partial-") && !self.writer_active() {
                problems.push(format!(".img/ingest/{name}: a temporary blob left behind"));
            }
        }
        Ok(problems)
    }

    fn verify_tree(
        &self,
        descriptor: &Descriptor,
        verified: &HashSet<String>,
        optional: bool,
        label: &str,
        problems: &mut Vec<String>,
    ) {
        let digest: &Digest = descriptor.digest();
        if !verified.contains(digest.digest()) {
            if !optional || self.has_blob(digest) {
                problems.push(format!("{label}: blob {digest} is missing or corrupt"));
            }
            return;
        }
        if self.blob_size(digest).ok() != Some(descriptor.size()) {
            problems.push(format!(
                "{label}: blob {digest} is not of the declared size {}",
                descriptor.size()
            ));
            return;
        }
        let media_type = descriptor.media_type();
        if is_index(media_type) {
            match self
                .read_blob(descriptor)
                .map(|b| serde_json::from_slice::<ImageIndex>(&b))
            {
                Ok(Ok(index)) => {
                    for child in index.manifests() {
                        self.verify_tree(child, verified, true, label, problems);
                    }
                }
                _ => problems.push(format!("{label}: index {digest} does not parse")),
            }
        } else if is_manifest(media_type) {
            match self
                .read_blob(descriptor)
                .map(|b| serde_json::from_slice::<ImageManifest>(&b))
            {
                Ok(Ok(manifest)) => {
                    for child in std::iter::once(manifest.config()).chain(manifest.layers()) {
                        self.verify_tree(child, verified, false, label, problems);
                    }
                }
                _ => problems.push(format!("{label}: manifest {digest} does not parse")),
            }
        }
    }

    /// Whether some process holds the store's writer lock now (then its
    /// temporary blobs are legitimately in flight).
    fn writer_active(&self) -> bool {
        let Ok(file) = super::open_lock_file(&self.lock_dir().join("gc")) else {
            return true;
        };
        if self.writer_lock.get().is_some() {
            return true;
        }
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

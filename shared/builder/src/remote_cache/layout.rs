//! A cache in an OCI image layout directory (`type=local`): the cache
//! manifest named by its tag in `index.json` (the
//! `org.opencontainers.image.ref.name` annotation, as BuildKit's local
//! cache names it), its config and layers in `blobs/sha256/`.
//!
//! Reading verifies every blob against its digest and never writes to the
//! directory (CI systems may hand it over read-only). Writing is done under
//! an exclusive lock on the directory itself: blobs first (temporary file,
//! fsync, rename), `index.json` last by atomic replace, then every blob no
//! entry of `index.json` reaches is removed — so a directory kept between
//! CI jobs holds what its caches use, not every layer any job ever wrote.
//! A directory that is an img store, or that is neither empty nor an OCI
//! layout, is refused.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use serde_json::{json, Value};

use img_core::digest::{self, Digest, DigestWriter, VerifyingReader};
use img_core::error::{Error, IoContext, Kind, Result};
use img_core::record::REF_NAME;
use img_store::{Durability, Replace, Store, MAX_METADATA_SIZE};

const INDEX: &str = "index.json";
const LAYOUT_FILE: &str = "oci-layout";
/// How `index.json` and `oci-layout` are replaced: synced as the blobs
/// are, the directory not; world-readable as the blobs, since a cache
/// directory is handed between CI jobs that may run as other users.
const FILES: Replace = Replace {
    prefix: ".tmp-",
    durability: Durability::FileSynced,
    mode: Some(BLOB_MODE),
};
/// The mode of every file of the layout, as img's store and skopeo write
/// an OCI layout (tempfile makes 0600 files).
const BLOB_MODE: u32 = 0o644;

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.digest())
}

/// The descriptor `tag` names in the layout `dir`.
pub fn find(dir: &Path, tag: &str) -> Result<Descriptor> {
    let index = read_index(dir)?.ok_or_else(|| {
        Error::not_found(format!(
            "{} is not an OCI image layout (no index.json)",
            dir.display()
        ))
    })?;
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| {
            m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1"))) == Some(&json!(tag))
        })
        .filter_map(|m| serde_json::from_value::<Descriptor>(m.clone()).ok())
        .next_back()
        .ok_or_else(|| {
            Error::not_found(format!(
                "{} holds no cache tagged {tag:?} (yet)",
                dir.display()
            ))
        })
}

/// A small blob (manifest, config) of the layout `dir`, verified.
pub fn read_small(dir: &Path, descriptor: &Descriptor) -> Result<Vec<u8>> {
    digest::ensure_sha256(descriptor.digest())?;
    if descriptor.size() > MAX_METADATA_SIZE {
        return Err(Error::new(
            Kind::Remote,
            format!(
                "{} declares {} bytes, more than img reads for a manifest or config",
                descriptor.digest(),
                descriptor.size()
            ),
        ));
    }
    let path = blob_path(dir, descriptor.digest());
    let file = File::open(&path).io_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    VerifyingReader::new(file, descriptor.digest().clone(), descriptor.size())
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(bytes)
}

/// Copy the blob `descriptor` from the layout `dir` into `store`,
/// verified on the way.
pub(crate) fn copy_to_store(dir: &Path, store: &Store, descriptor: &Descriptor) -> Result<()> {
    digest::ensure_sha256(descriptor.digest())?;
    let path = blob_path(dir, descriptor.digest());
    let file = File::open(&path).io_context(|| format!("opening {}", path.display()))?;
    store
        .write_blob_from(descriptor, std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| e.context(format!("copying {}", path.display())))
}

fn read_index(dir: &Path) -> Result<Option<Value>> {
    let path = dir.join(INDEX);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::invalid(format!("{} is not valid JSON: {e}", path.display())))
}

/// A layout directory being written, locked until dropped.
pub struct Writer {
    dir: PathBuf,
    _lock: File,
}

impl Writer {
    /// Open (or create) the layout `dir` for writing and lock it.
    pub fn open(dir: &Path) -> Result<Writer> {
        if dir.join(".img").exists() {
            return Err(Error::invalid(format!(
                "{} is an img store; give type=local a directory of its own",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).io_context(|| format!("creating {}", dir.display()))?;
        let lock = File::open(dir).io_context(|| format!("opening {}", dir.display()))?;
        lock.lock()
            .io_context(|| format!("locking {}", dir.display()))?;
        let foreign = fs::read_dir(dir)
            .io_context(|| format!("listing {}", dir.display()))?
            .flatten()
            .any(|e| !matches!(e.file_name().to_str(), Some(LAYOUT_FILE | INDEX | "blobs")));
        if foreign && !dir.join(LAYOUT_FILE).exists() {
            return Err(Error::invalid(format!(
                "{} is neither empty nor an OCI image layout; give type=local an empty directory",
                dir.display()
            )));
        }
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).io_context(|| format!("creating {}", blobs.display()))?;
        if !dir.join(LAYOUT_FILE).exists() {
            FILES.write(
                dir,
                &dir.join(LAYOUT_FILE),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )?;
        }
        Ok(Writer {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// Whether the layout holds the blob.
    pub fn has(&self, descriptor: &Descriptor) -> bool {
        fs::metadata(blob_path(&self.dir, descriptor.digest()))
            .is_ok_and(|m| m.is_file() && m.len() == descriptor.size())
    }

    /// Copy the blob `descriptor` from `store` unless the layout has it;
    /// returns whether it was copied.
    pub(crate) fn put_from_store(&self, store: &Store, descriptor: &Descriptor) -> Result<bool> {
        if self.has(descriptor) {
            return Ok(false);
        }
        let source = store.open_blob(descriptor)?;
        self.put(descriptor.digest(), source)?;
        Ok(true)
    }

    /// Store `bytes` as a blob; returns its digest.
    pub(crate) fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = digest::of_bytes(bytes);
        self.put(&digest, bytes)?;
        Ok(digest)
    }

    fn put(&self, digest: &Digest, mut source: impl Read) -> Result<()> {
        let target = blob_path(&self.dir, digest);
        let parent = self.dir.join("blobs").join("sha256");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&parent)
            .io_context(|| format!("creating a temporary file in {}", parent.display()))?;
        let mut out = DigestWriter::new(tmp);
        std::io::copy(&mut img_core::cancel::Checked(&mut source), &mut out)
            .map_err(|e| Error::io(format!("writing blob {digest} to {}", parent.display()), e))?;
        let (tmp, written, _) = out.finish();
        if &written != digest {
            return Err(Error::digest_mismatch(digest, &written));
        }
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(BLOB_MODE))
            .and_then(|()| tmp.as_file().sync_all())
            .io_context(|| format!("syncing blob {digest}"))?;
        tmp.persist(&target)
            .map_err(|e| Error::io(format!("storing {}", target.display()), e.error))?;
        Ok(())
    }

    /// Name `manifest` `tag` in `index.json` (replacing what had the tag).
    pub(crate) fn set_tag(&self, tag: &str, manifest: &Descriptor) -> Result<()> {
        let mut index = read_index(&self.dir)?.unwrap_or_else(|| {
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        });
        let mut entry = serde_json::to_value(manifest)
            .map_err(|e| Error::invalid(format!("encoding a descriptor: {e}")))?;
        entry["annotations"] = json!({ REF_NAME: tag });
        let manifests = index
            .get_mut("manifests")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{} has no manifests list",
                    self.dir.join(INDEX).display()
                ))
            })?;
        manifests.retain(|m| {
            m.pointer("/annotations").and_then(|a| a.get(REF_NAME)) != Some(&json!(tag))
        });
        manifests.push(entry);
        FILES.write_json(&self.dir, &self.dir.join(INDEX), &index)
    }

    /// Remove every blob `index.json` does not reach; returns how many.
    pub(crate) fn collect_garbage(&self) -> Result<usize> {
        let Some(index) = read_index(&self.dir)? else {
            return Ok(0);
        };
        let mut reachable = HashSet::new();
        let mut todo: Vec<Value> = index
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        while let Some(entry) = todo.pop() {
            let Ok(descriptor) = serde_json::from_value::<Descriptor>(entry) else {
                continue;
            };
            if !reachable.insert(descriptor.digest().digest().to_string()) {
                continue;
            }
            if descriptor.size() > MAX_METADATA_SIZE {
                continue;
            }
            // Anything that parses as an index or manifest leads further;
            // a layer does not parse and leads nowhere.
            let Ok(bytes) = read_small(&self.dir, &descriptor) else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            for list in ["manifests", "layers", "blobs"] {
                if let Some(items) = value.get(list).and_then(Value::as_array) {
                    todo.extend(items.iter().cloned());
                }
            }
            for one in ["config", "subject"] {
                if let Some(item) = value.get(one) {
                    todo.push(item.clone());
                }
            }
        }
        let blobs = self.dir.join("blobs").join("sha256");
        let mut removed = 0;
        for entry in fs::read_dir(&blobs)
            .io_context(|| format!("listing {}", blobs.display()))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_blob = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if is_blob && !reachable.contains(&name) {
                fs::remove_file(entry.path())
                    .io_context(|| format!("removing {}", entry.path().display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    #[test]
    fn writes_finds_and_collects() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let writer = Writer::open(&cache).unwrap();
        let old = writer.put_bytes(b"old layer").unwrap();
        let layer = writer.put_bytes(b"layer").unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{layer}","size":5}},"layers":[]}}"#
        );
        let m = writer.put_bytes(manifest.as_bytes()).unwrap();
        let descriptor =
            Descriptor::new(MediaType::ImageManifest, manifest.len() as u64, m.clone());
        writer.set_tag("v1", &descriptor).unwrap();
        // Readable by the other users a CI job may run as.
        use std::os::unix::fs::PermissionsExt;
        for file in [
            blob_path(&cache, &m),
            cache.join(INDEX),
            cache.join(LAYOUT_FILE),
        ] {
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", file.display());
        }
        assert_eq!(writer.collect_garbage().unwrap(), 1);
        assert!(!blob_path(&cache, &old).exists());
        assert!(blob_path(&cache, &layer).exists());
        drop(writer);
        let found = find(&cache, "v1").unwrap();
        assert_eq!(found.digest(), &m);
        assert_eq!(read_small(&cache, &found).unwrap(), manifest.as_bytes());
        assert_eq!(find(&cache, "v2").unwrap_err().kind(), Kind::NotFound);
        // A damaged blob is refused.
        fs::write(blob_path(&cache, &m), b"other bytes").unwrap();
        assert!(read_small(&cache, &found).is_err());
        // Not into a store, nor a foreign directory.
        let store = dir.path().join("store");
        Store::open(&store).unwrap();
        assert!(Writer::open(&store).is_err());
        let foreign = dir.path().join("foreign");
        fs::create_dir_all(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), b"x").unwrap();
        assert!(Writer::open(&foreign).is_err());
    }
}

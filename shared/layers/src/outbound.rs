//! Images made ready to leave the machine: the layers kept uncompressed in
//! the store gzipped, as Docker compresses its layers when it pushes them.
//!
//! img-build keeps the layers it makes uncompressed (Docker's and
//! buildah's stores do too): gzip costs more CPU than everything else a
//! COPY or a short RUN does, and a layer that never leaves the machine
//! never needs it. An image sent to a registry (img-push, a build cache
//! exported there) has its uncompressed layers gzipped first, at gzip's
//! default level, the way the builder used to store them: the same tar
//! always gives the same blob, so the same image always gives the same
//! pushed manifest. The image in the store then takes that compressed
//! form under all of its names (its ID, the config's digest, does not
//! change), so that it is compressed once and the registry's manifest
//! digest is the store's.

use std::io::{BufReader, Write};

use oci_spec::image::{Descriptor, MediaType};
use serde_json::Value;

use super::compression::{self, Compression, Compressor, BUFFER};
use img_core::error::{Error, IoContext, Result};
use img_core::image::{self, Target};
use img_core::parallel;
use img_store::Store;

/// The media type `layer` has once gzipped, when it is an uncompressed
/// layer (OCI or Docker media type); None for any other blob.
fn gzipped_media_type(layer: &Descriptor) -> Option<MediaType> {
    match layer.media_type() {
        MediaType::ImageLayer => Some(MediaType::ImageLayerGzip),
        MediaType::Other(other) if other == image::DOCKER_LAYER => {
            Some(MediaType::Other(image::DOCKER_LAYER_GZIP.into()))
        }
        _ => None,
    }
}

/// Whether `layer` is kept uncompressed (and so is gzipped before it
/// leaves the machine).
pub fn is_uncompressed(layer: &Descriptor) -> bool {
    gzipped_media_type(layer).is_some()
}

/// The layer blob `layer` of `store` decompressed and compressed again as
/// `wanted`, into a blob of its own; the new blob's descriptor (the OCI
/// media type of `wanted`, `layer`'s annotations). The blob is checked
/// against `layer`'s digest as it is read.
pub fn recompress(store: &Store, layer: &Descriptor, wanted: Compression) -> Result<Descriptor> {
    let doing = || format!("converting layer {} to {wanted}", layer.digest());
    let blob = BufReader::with_capacity(BUFFER, store.open_blob(layer)?);
    let (_, mut tar) = compression::decompress(blob)?;
    let mut out = Compressor::new(wanted, store.ingest()?)?;
    std::io::copy(&mut tar, &mut out).io_context(doing)?;
    let mut blob = out.finish().io_context(doing)?;
    blob.flush().io_context(doing)?;
    let (digest, size) = blob.commit(None)?;
    let mut done = Descriptor::new(wanted.oci_layer_media_type(), size, digest);
    done.set_annotations(layer.annotations().clone());
    Ok(done)
}

/// gzip the uncompressed layer blob `layer` of `store` (see
/// [`recompress`]), keeping its media type's family (OCI or Docker).
fn gzip_layer(store: &Store, layer: &Descriptor) -> Result<Descriptor> {
    let mut gzipped = recompress(store, layer, Compression::Gzip)?;
    if let Some(media_type) = gzipped_media_type(layer) {
        gzipped.set_media_type(media_type);
    }
    Ok(gzipped)
}

/// `target` with its uncompressed layers gzipped: the same target when it
/// has none (or is a multi-platform index, whose images img never builds);
/// else a new manifest, stored, that every name of `target` now names.
pub fn compressed(store: &Store, target: &Target) -> Result<Target> {
    let Target::Image(image) = target else {
        return Ok(target.clone());
    };
    let layers = image.manifest.layers();
    let uncompressed: Vec<&Descriptor> = layers.iter().filter(|l| is_uncompressed(l)).collect();
    if uncompressed.is_empty() {
        return Ok(target.clone());
    }
    let threads = parallel::cores(uncompressed.len());
    let gzipped = parallel::map(
        &uncompressed,
        threads,
        &parallel::Spare::default(),
        |layer| gzip_layer(store, layer),
    )?;
    let mut manifest: Value = serde_json::from_slice(&store.read_blob(target.descriptor())?)
        .map_err(|e| Error::invalid(format!("reading manifest {}: {e}", target.digest())))?;
    let Some(listed) = manifest.get_mut("layers").and_then(Value::as_array_mut) else {
        return Err(Error::invalid(format!(
            "manifest {} lists no layers",
            target.digest()
        )));
    };
    for (old, new) in uncompressed.iter().zip(&gzipped) {
        for entry in listed.iter_mut() {
            if entry.get("digest").and_then(Value::as_str) == Some(old.digest().as_ref()) {
                *entry = serde_json::to_value(new)
                    .map_err(|e| Error::invalid(format!("encoding a layer descriptor: {e}")))?;
            }
        }
    }
    let bytes = img_core::json::canonical(&manifest)?;
    let (digest, size) = store.write_blob(&bytes)?;
    let mut descriptor = target.descriptor().clone();
    descriptor.set_digest(digest);
    descriptor.set_size(size);
    descriptor.set_annotations(None);
    let converted = store.load_target(&descriptor)?;
    // Every name moves to the compressed form; an unnamed entry of the
    // image is replaced by one of it.
    let old = target.digest().clone();
    store.update_index(|index| {
        let entries = index.entries_for(&old);
        if entries.is_empty() {
            return Ok(());
        }
        index.remove_digest(&old);
        let mut named = false;
        for entry in entries {
            if let Some(name) = entry.name {
                index.set_name(&name, &descriptor);
                named = true;
            }
        }
        if !named {
            index.add_unnamed(&descriptor);
        }
        Ok(())
    })?;
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use img_core::digest::DigestWriter;
    use img_core::platform::Platform;
    use img_core::reference::Reference;
    use img_store::compose;

    /// An image of one uncompressed layer (a tar of one file), named
    /// `names` in a new store at `dir`.
    fn uncompressed_image(dir: &std::path::Path, names: &[&str]) -> (Store, Target, Descriptor) {
        let store = Store::open(dir).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let data = "a line of text\n".repeat(10_000);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, "app/file.txt", data.as_bytes())
            .unwrap();
        let tar = tar.into_inner().unwrap();
        let (digest, size) = store.write_blob(&tar).unwrap();
        let layer = Descriptor::new(MediaType::ImageLayer, size, digest.clone());
        let created = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let mut config = compose::empty_config(&Platform::parse("linux/amd64").unwrap(), created);
        compose::add_layer(&mut config, &digest, serde_json::json!({})).unwrap();
        let target = compose::write_image(&store, &config, std::slice::from_ref(&layer)).unwrap();
        for name in names {
            compose::name(&store, &target, Some(&Reference::parse(name).unwrap())).unwrap();
        }
        if names.is_empty() {
            compose::name(&store, &target, None).unwrap();
        }
        (store, target, layer)
    }

    /// Pushing an image whose layers img keeps uncompressed gzips them:
    /// the same tar inside, the same image ID, every name moved to the new
    /// manifest and the old one gone from the names; converting again
    /// changes nothing, and another store gives the same digest.
    #[test]
    fn an_uncompressed_image_is_gzipped_under_all_its_names_and_the_same_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let (store, target, layer) =
            uncompressed_image(&dir.path().join("one"), &["app:1", "app:2"]);
        let converted = compressed(&store, &target).unwrap();
        let Target::Image(image) = &converted else {
            panic!("not an image")
        };
        let Target::Image(before) = &target else {
            panic!("not an image")
        };
        assert_ne!(converted.digest(), target.digest());
        assert_eq!(image.id(), before.id());
        let gzipped = &image.manifest.layers()[0];
        assert_eq!(gzipped.media_type(), &MediaType::ImageLayerGzip);
        assert!(gzipped.size() < layer.size() / 10, "{gzipped:?}");
        let (found, mut tar) = compression::decompress(store.open_blob(gzipped).unwrap()).unwrap();
        assert_eq!(found, Compression::Gzip);
        let mut hashed = DigestWriter::new(std::io::sink());
        std::io::copy(&mut tar, &mut hashed).unwrap();
        assert_eq!(&hashed.finish().1, layer.digest());
        let index = store.index().unwrap();
        for name in ["app:1", "app:2"] {
            let entry = index.find_name(&Reference::parse(name).unwrap()).unwrap();
            assert_eq!(entry.digest(), converted.digest(), "{name}");
        }
        assert!(index.entries_for(target.digest()).is_empty());
        assert_eq!(index.entries().len(), 2);
        // Once gzipped, nothing more to do.
        let again = compressed(&store, &converted).unwrap();
        assert_eq!(again.digest(), converted.digest());
        // The same image elsewhere gives the same pushed digest.
        let (other, other_target, _) = uncompressed_image(&dir.path().join("two"), &[]);
        assert_eq!(other_target.digest(), target.digest());
        let elsewhere = compressed(&other, &other_target).unwrap();
        assert_eq!(elsewhere.digest(), converted.digest());
        // An unnamed image stays, unnamed, in its new form.
        let entries = other.index().unwrap().entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].digest(), elsewhere.digest());
        assert!(entries[0].name.is_none());
    }
}

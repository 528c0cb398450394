//! The layers of an image in the store (`img-layer ls IMAGE`, `img-layer
//! extract`): each layer's descriptor from the manifest beside its diff_id
//! from the config, a layer picked by position or digest, and a layer blob
//! written out as stored or uncompressed — verified on the way: the blob
//! against its digest, the uncompressed tar against its diff_id.

use std::io::{self, Write};

use oci_spec::image::Descriptor;

use super::compression::{self, Compression};
use img_core::digest::{self, Digest, DigestReader};
use img_core::error::{Error, IoContext, Result};
use img_core::format;
use img_core::image::Image;
use img_store::Store;

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Its place in the manifest, 0 the bottom.
    pub position: usize,
    /// The manifest's descriptor of the blob.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar, from the config.
    pub diff_id: Option<String>,
}

/// The layers of `image`, bottom first.
pub fn layers(image: &Image) -> Vec<Layer> {
    let diff_ids = image.config.rootfs().diff_ids();
    image
        .manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(position, descriptor)| Layer {
            position,
            descriptor: descriptor.clone(),
            diff_id: diff_ids.get(position).cloned(),
        })
        .collect()
}

/// The layer `which` names: a position (0 the bottom), or a layer digest or
/// diff_id, whole or a unique prefix of its hex digits; the top layer when
/// `None`. A number shorter than 12 digits is a position (img prints 12-digit
/// digests), anything longer or with letters a digest prefix.
pub fn pick(layers: &[Layer], which: Option<&str>) -> Result<Layer> {
    let Some(which) = which else {
        return layers
            .last()
            .cloned()
            .ok_or_else(|| Error::not_found("the image has no layers"));
    };
    if let Ok(n) = which.parse::<usize>() {
        if which.len() < 12 {
            return layers.get(n).cloned().ok_or_else(|| {
                Error::not_found(format!(
                    "the image has {} layer(s): no layer {n} (0 is the bottom)",
                    layers.len()
                ))
            });
        }
    }
    let hex = which.strip_prefix("sha256:").unwrap_or(which);
    let found: Vec<&Layer> = layers
        .iter()
        .filter(|l| {
            !hex.is_empty()
                && (l.descriptor.digest().digest().starts_with(hex)
                    || l.diff_id
                        .as_deref()
                        .and_then(|d| d.strip_prefix("sha256:"))
                        .is_some_and(|d| d.starts_with(hex)))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::not_found(format!(
            "the image has no layer {which}: list them with img-layer ls IMAGE"
        ))),
        _ => Err(Error::invalid(format!(
            "{which} names {} layers: give more digits",
            found.len()
        ))),
    }
}

/// The `img-layer ls` table: DIGEST, DIFF ID, SIZE, MEDIA TYPE.
pub fn table(layers: &[Layer], no_trunc: bool) -> String {
    let mut rows = vec![vec![
        "DIGEST".to_string(),
        "DIFF ID".to_string(),
        "SIZE".to_string(),
        "MEDIA TYPE".to_string(),
    ]];
    for layer in layers {
        rows.push(vec![
            shown(layer.descriptor.digest(), no_trunc),
            match layer.diff_id.as_deref().map(digest::parse) {
                Some(Ok(d)) => shown(&d, no_trunc),
                _ => "<missing>".to_string(),
            },
            format::human_size(layer.descriptor.size()),
            layer.descriptor.media_type().to_string(),
        ]);
    }
    format::table(&rows)
}

/// A digest as the tables show it: 12 hex digits, or whole.
pub fn shown(digest: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        digest.to_string()
    } else {
        digest::short(digest).to_string()
    }
}

/// Write `layer`'s blob into `out`: as stored, or, when `uncompressed`, its
/// tar, checked against the diff_id.
pub fn write_layer(
    store: &Store,
    layer: &Layer,
    uncompressed: bool,
    out: &mut impl Write,
) -> Result<u64> {
    let blob = store.open_blob(&layer.descriptor)?;
    let what = || format!("copying layer {}", layer.descriptor.digest());
    if !uncompressed {
        let mut blob = blob;
        return io::copy(&mut blob, out).io_context(what);
    }
    let (_, tar) = match Compression::from_media_type(layer.descriptor.media_type()) {
        Some(c) => (c, compression::decoder(c, blob)?),
        None => compression::decompress(blob)?,
    };
    let mut tar = DigestReader::new(tar);
    let copied = io::copy(&mut tar, out).map_err(|e| {
        let kind = img_core::error::kind_of(&e).unwrap_or(img_core::error::Kind::InvalidInput);
        Error::new(
            kind,
            format!(
                "decompressing layer {}: {}",
                layer.descriptor.digest(),
                super::one_line(&e)
            ),
        )
    })?;
    let (found, _) = tar.digest();
    if let Some(expected) = layer.diff_id.as_deref() {
        if found.to_string() != expected {
            return Err(Error::new(
                img_core::error::Kind::DigestMismatch,
                format!(
                    "layer {} uncompresses to {found}, but the config's diff_id is {expected}",
                    layer.descriptor.digest()
                ),
            ));
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    fn layer(position: usize, hex: char, diff: char) -> Layer {
        Layer {
            position,
            descriptor: Descriptor::new(
                MediaType::ImageLayerGzip,
                1,
                digest::from_hex(&hex.to_string().repeat(64)).unwrap(),
            ),
            diff_id: Some(format!("sha256:{}", diff.to_string().repeat(64))),
        }
    }

    #[test]
    fn picks_by_position_digest_or_diff_id() {
        let layers = vec![layer(0, 'a', 'c'), layer(1, 'b', 'd')];
        assert_eq!(pick(&layers, None).unwrap().position, 1);
        assert_eq!(pick(&layers, Some("0")).unwrap().position, 0);
        assert_eq!(pick(&layers, Some("bbbb")).unwrap().position, 1);
        assert_eq!(pick(&layers, Some("sha256:cccc")).unwrap().position, 0);
        assert!(pick(&layers, Some("2")).is_err());
        assert!(pick(&layers, Some("eeee")).is_err());
        assert!(pick(&[], None).is_err());
    }
}

//! A build cache from anywhere, never a panic: any bytes as BuildKit's
//! cache config (with the manifest layers it would come with) or as an
//! inline cache, and any text as a `--cache-to`/`--cache-from` value, give
//! a table of steps or an error.

#![no_main]

use img_builder::remote_cache::{format, inline, Export, Import};
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{Descriptor, MediaType};

fuzz_target!(|bytes: &[u8]| {
    // Layers whose digests a fuzzed config may name: sha256 of "0".."3".
    let layers: Vec<Descriptor> = (0..4u8)
        .map(|i| {
            let digest = img_core::digest::of_bytes(&[b'0' + i]);
            let mut d = Descriptor::new(MediaType::ImageLayerGzip, 1, digest.clone());
            d.set_annotations(Some(
                [(format::UNCOMPRESSED.to_string(), digest.to_string())].into(),
            ));
            d
        })
        .collect();
    if let Ok(config) = serde_json::from_slice::<format::CacheConfig>(bytes) {
        let _ = format::decode(&config, &layers);
    }
    let text = String::from_utf8_lossy(bytes);
    let image = serde_json::json!({
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest().to_string()).collect::<Vec<_>>()},
        "history": [{"created_by": "x"}],
    });
    let _ = inline::decode(&text, &image, &layers);
    use base64::Engine as _;
    let _ = inline::decode(
        &base64::engine::general_purpose::STANDARD.encode(bytes),
        &image,
        &layers,
    );
    let _ = Export::parse(&text);
    let _ = Import::parse(&text);
});

//! Manifest, index and config JSON as a store holds them, from any bytes:
//! the first byte says which the rest is (an image manifest, an index, or
//! the config of a manifest made for it). Reading it as img-inspect,
//! img-history and img-run do gives an error or a result, never a panic;
//! so does telling a registry's answer's media type.

#![no_main]

use img_core::image::Target;
use img_registry::manifest::media_type_of;
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{Descriptor, MediaType};

fuzz_target!(|input: &[u8]| {
    let Some((&kind, bytes)) = input.split_first() else {
        return;
    };
    let _ = media_type_of(bytes, None);
    let (_dir, store) = img_fuzz::store();
    let (digest, size) = store.write_blob(bytes).expect("writing a blob");
    let top = match kind % 3 {
        0 => Descriptor::new(MediaType::ImageManifest, size, digest),
        1 => Descriptor::new(MediaType::ImageIndex, size, digest),
        _ => {
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":{size}}},"layers":[]}}"#
            );
            let (m, n) = store
                .write_blob(manifest.as_bytes())
                .expect("writing a blob");
            Descriptor::new(MediaType::ImageManifest, n, m)
        }
    };
    let Ok(target) = store.load_target(&top) else {
        return;
    };
    let _ = target.created();
    let _ = target.content_size();
    let _ = store.require_complete(&target);
    if let Ok(image) = target.host_image() {
        let _ = image.platform();
        let _ = img_store::compose::diff_ids(&image.config_json);
    }
    // As the programs reach it: by a name.
    let name = img_core::reference::Reference::parse("fuzz:1").expect("a name");
    if img_store::compose::name(&store, &target, Some(&name)).is_ok() {
        if let Ok(found) = store.resolve("fuzz:1") {
            // The Go struct and the JSON object a template sees.
            let format = img_core::template::Format::parse("{{.ID}} {{json .Config}} {{.Id}}")
                .expect("a template");
            let _ = img_ops::inspect::inspect(&store, &found)
                .and_then(|i| img_ops::inspect::render(&format, &i));
            let _ = img_ops::history::history(&store, &found, None);
            if let Target::Index(_) = found.target {
                let _ = found.target.image_for(Some(&img_core::platform::Platform::host()));
            }
        }
    }
});

//! Hostile layers made into images the way other tools would carry them:
//! an OCI layout (for skopeo to put into a store or a registry), and the
//! three archive formats img-load reads (OCI, Docker's manifest.json with
//! blobs, and the legacy `<id>/layer.tar` one), written in memory.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// A layer blob as stored: its bytes, media type and diff_id.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The blob.
    pub blob: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// The digest of its uncompressed tar.
    pub diff_id: String,
}

impl Layer {
    /// An uncompressed layer.
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: digest(&tar),
            blob: tar,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        }
    }

    /// A gzip layer.
    pub fn gzip(tar: &[u8]) -> Layer {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(tar).unwrap();
        Layer {
            diff_id: digest(tar),
            blob: gz.finish().unwrap(),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        }
    }

    /// The bottom layer of the fixture image `base` (busybox), from the
    /// fixtures' OCI layout.
    pub fn busybox() -> Layer {
        let layout = crate::fixtures();
        let index = read_json(&layout.join("index.json"));
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "base")
            .unwrap();
        let manifest = read_json(&blob_path(&layout, entry["digest"].as_str().unwrap()));
        let config = read_json(&blob_path(
            &layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ));
        let layer = &manifest["layers"][0];
        Layer {
            blob: std::fs::read(blob_path(&layout, layer["digest"].as_str().unwrap())).unwrap(),
            media_type: layer["mediaType"].as_str().unwrap().into(),
            diff_id: config["rootfs"]["diff_ids"][0].as_str().unwrap().into(),
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    img_core::digest::of_bytes(bytes).to_string()
}

/// An image: its layers, config and manifest bytes.
pub struct Image {
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
    /// The config's bytes.
    pub config: Vec<u8>,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
}

/// The host's architecture as OCI names it.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl Image {
    /// An image of `layers` whose command is `sh`.
    pub fn new(layers: Vec<Layer>) -> Image {
        let config = json!({
            "architecture": architecture(),
            "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(&config),
                "size": config.len(),
            },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": digest(&l.blob),
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        });
        Image {
            layers,
            manifest: serde_json::to_vec(&manifest).unwrap(),
            config,
        }
    }

    /// Every blob: layers, config, manifest.
    fn blobs(&self) -> Vec<&[u8]> {
        let mut blobs: Vec<&[u8]> = self.layers.iter().map(|l| l.blob.as_slice()).collect();
        blobs.push(&self.config);
        blobs.push(&self.manifest);
        blobs
    }

    fn descriptor(&self, name: &str) -> Value {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(&self.manifest),
            "size": self.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        })
    }
}

/// Write `images` into the OCI layout `dir` (made when missing), each
/// under its name (a tag for skopeo's `oci:DIR:NAME`).
pub fn write_layout(dir: &Path, images: &[(String, &Image)]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for (name, image) in images {
        for blob in image.blobs() {
            std::fs::write(blob_path(dir, &digest(blob)), blob).unwrap();
        }
        manifests.push(image.descriptor(name));
    }
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Add `images` to the OCI layout `dir` (an img store, say), beside what
/// its index holds already.
pub fn add_to_layout(dir: &Path, images: &[(String, &Image)]) {
    let index_path = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => json!({"schemaVersion": 2, "manifests": []}),
    };
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    if !dir.join("oci-layout").exists() {
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }
    for (name, image) in images {
        for blob in image.blobs() {
            std::fs::write(blob_path(dir, &digest(blob)), blob).unwrap();
        }
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(image.descriptor(name));
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

fn add(builder: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut h, path, bytes).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    digest(bytes).trim_start_matches("sha256:").to_string()
}

/// An OCI image layout archive of `image` named `name`.
pub fn oci_archive(name: &str, image: &Image) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = json!({"schemaVersion": 2, "manifests": [image.descriptor(name)]});
    add(&mut b, "index.json", &serde_json::to_vec(&index).unwrap());
    for blob in image.blobs() {
        add(&mut b, &format!("blobs/sha256/{}", hex(blob)), blob);
    }
    b.into_inner().unwrap()
}

/// A Docker archive of `image` (manifest.json naming blobs, no index.json).
pub fn docker_archive(name: &str, image: &Image) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let layers: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("blobs/sha256/{}", hex(&l.blob)))
        .collect();
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", hex(&image.config)),
        "RepoTags": [name],
        "Layers": layers,
    }]);
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    for layer in &image.layers {
        add(
            &mut b,
            &format!("blobs/sha256/{}", hex(&layer.blob)),
            &layer.blob,
        );
    }
    add(
        &mut b,
        &format!("blobs/sha256/{}", hex(&image.config)),
        &image.config,
    );
    b.into_inner().unwrap()
}

/// A legacy Docker archive of `image`: `<id>/layer.tar`, `<id>.json`.
pub fn legacy_archive(name: &str, image: &Image) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut layers = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let id = hex(format!("{i}{}", layer.diff_id).as_bytes());
        add(&mut b, &format!("{id}/VERSION"), b"1.0");
        add(
            &mut b,
            &format!("{id}/json"),
            format!(r#"{{"id":"{id}"}}"#).as_bytes(),
        );
        add(&mut b, &format!("{id}/layer.tar"), &layer.blob);
        layers.push(format!("{id}/layer.tar"));
    }
    let config = format!("{}.json", hex(&image.config));
    add(&mut b, &config, &image.config);
    let manifest = json!([{"Config": config, "RepoTags": [name], "Layers": layers}]);
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    b.into_inner().unwrap()
}

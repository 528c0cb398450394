//! Manifests over the wire: asking for a tag's digest with HEAD, fetching
//! one with content negotiation (OCI manifest and index, Docker schema 2
//! manifest and manifest list) and a verified digest, and putting one by
//! tag or digest.

use ureq::http::Response;
use ureq::Body;

use crate::transport::auth::Scope;
use crate::transport::client::{header, Call, Client, Payload};
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result};
use img_core::image::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use img_store::MAX_METADATA_SIZE;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What img asks registries for, best first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as the registry sent it.
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    /// The exact bytes (their digest is the manifest's digest).
    pub bytes: Vec<u8>,
    /// One of the four media types img reads.
    pub media_type: String,
    /// The digest of the bytes.
    pub digest: Digest,
}

impl RemoteManifest {
    /// Whether this is an index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}

/// Fetch the manifest `reference` (a tag or a digest) of `repository`. A
/// digest reference must match the bytes; a tag's bytes must match the
/// `Docker-Content-Digest` the registry sends.
pub fn get(
    client: &Client,
    repository: &str,
    reference: &str,
    scope: &Scope,
) -> Result<RemoteManifest> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let what = || {
        format!("{}/{repository}:{reference}", client.registry()).replace(":sha256:", "@sha256:")
    };
    let mut response = client.send(Call::get(url, scope).header("Accept", ACCEPT))?;
    if !response.status().is_success() {
        let err = client.error_for(response, &format!("manifest for {}", what()));
        return Err(not_found_hint(client, repository, err));
    }
    let announced = header(&response, "docker-content-digest");
    let content_type = header(&response, "content-type");
    let bytes = read_limited(&mut response, &what())?;
    let actual = digest::of_bytes(&bytes);
    if reference.starts_with("sha256:") {
        let wanted = digest::parse(reference)?;
        if actual != wanted {
            return Err(
                Error::digest_mismatch(&wanted, &actual).context(format!("manifest {}", what()))
            );
        }
    } else if let Some(announced) = announced {
        if let Ok(announced) = digest::parse(announced.trim()) {
            if announced != actual {
                return Err(Error::digest_mismatch(&announced, &actual)
                    .context(format!("manifest {} (Docker-Content-Digest)", what())));
            }
        }
    }
    let media_type = media_type_of(&bytes, content_type.as_deref())
        .map_err(|e| e.context(format!("manifest {}", what())))?;
    Ok(RemoteManifest {
        bytes,
        media_type,
        digest: actual,
    })
}

/// Ask for the digest of manifest `reference` (a tag) with HEAD, which
/// fetches nothing (and which Docker Hub does not count as a pull). `None`
/// when the answer does not say: no `Docker-Content-Digest`, no HEAD, or an
/// error, whose words only a GET's body carries — the caller GETs instead.
pub fn head(
    client: &Client,
    repository: &str,
    reference: &str,
    scope: &Scope,
) -> Result<Option<Digest>> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let call = Call {
        method: "HEAD",
        ..Call::get(url, scope)
    }
    .header("Accept", ACCEPT);
    let response = client.send(call)?;
    if !response.status().is_success() {
        return Ok(None);
    }
    Ok(header(&response, "docker-content-digest").and_then(|d| digest::parse(d.trim()).ok()))
}

/// A NotFound answer with the hint of where to look for tags.
fn not_found_hint(client: &Client, repository: &str, err: Error) -> Error {
    match err.kind() {
        Kind::NotFound => Error::new(
            Kind::NotFound,
            format!(
                "{err} (does the repository and tag exist? list the tags with img-search --tags {}/{repository})",
                client.registry()
            ),
        ),
        _ => err,
    }
}

fn read_limited(response: &mut Response<Body>, what: &str) -> Result<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_METADATA_SIZE)
        .read_to_vec()
        .map_err(|e| {
            crate::transport::errors::transport_error(e).context(format!("reading manifest {what}"))
        })
}

/// The media type of manifest `bytes`: the Content-Type when it is one img
/// reads, else the JSON's `mediaType`, else what its shape says.
pub fn media_type_of(bytes: &[u8], content_type: Option<&str>) -> Result<String> {
    let known = [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ];
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Kind::Remote, format!("not JSON: {e}")))?;
    if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Err(Error::new(
            Kind::Remote,
            "is a Docker schema 1 manifest, which img does not read (push the image again with a current tool)",
        ));
    }
    let declared = value.get("mediaType").and_then(|m| m.as_str());
    let header = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    for candidate in [declared, header].into_iter().flatten() {
        if known.contains(&candidate) {
            return Ok(candidate.to_string());
        }
    }
    if value.get("manifests").is_some() {
        Ok(OCI_INDEX.to_string())
    } else if value.get("config").is_some() {
        Ok(OCI_MANIFEST.to_string())
    } else {
        Err(Error::new(
            Kind::Remote,
            format!(
                "has media type {:?}, which is not an image manifest or index",
                declared.or(header).unwrap_or("unknown")
            ),
        ))
    }
}

/// Put a manifest under `reference` (a tag or its digest); returns the
/// digest the registry reports.
pub fn put(
    client: &Client,
    repository: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    scope: &Scope,
) -> Result<()> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let call = Call {
        method: "PUT",
        url,
        scope,
        headers: vec![("Content-Type", media_type.to_string())],
        payload: Payload::Bytes(bytes),
        idempotent: true,
    };
    let response = client.send(call)?;
    if response.status().is_success() {
        return Ok(());
    }
    Err(client.error_for(
        response,
        &format!(
            "putting manifest {}/{repository}:{reference}",
            client.registry()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#;
        assert_eq!(
            media_type_of(m, Some("application/json")).unwrap(),
            DOCKER_MANIFEST
        );
        let oci = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(media_type_of(oci, None).unwrap(), OCI_MANIFEST);
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(media_type_of(index, Some(OCI_INDEX)).unwrap(), OCI_INDEX);
        assert!(media_type_of(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        assert!(media_type_of(b"nope", None).is_err());
    }
}

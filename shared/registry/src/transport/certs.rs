//! Private CAs and client certificates in Docker's `certs.d` layout: a
//! directory per registry (`HOST:PORT/`) holding CA certificates (`*.crt`)
//! and a client certificate with its key (`NAME.cert`, `NAME.key`).
//!
//! With `--cert-dir DIR`, `DIR/HOST:PORT/` is used when it exists, else DIR
//! itself (as skopeo's `--cert-dir`); without it, `/etc/docker/certs.d/HOST/`
//! and `/etc/containers/certs.d/HOST/`. When CA certificates are found they
//! are trusted beside the system's bundle (`/etc/ssl/certs/ca-certificates.crt`),
//! so that redirects to storage hosts with public certificates still verify.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PrivateKey};

use img_core::error::{Error, IoContext, Result};

/// The certificates found for a registry.
#[derive(Default)]
pub struct Material {
    /// Trusted roots; empty means the built-in (Mozilla) roots.
    pub roots: Vec<Certificate<'static>>,
    /// A client certificate chain and its key.
    pub client: Option<(Vec<Certificate<'static>>, PrivateKey<'static>)>,
}

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn directories(registry: &str, cert_dir: Option<&Path>) -> Vec<PathBuf> {
    match cert_dir {
        Some(dir) => {
            let per_host = dir.join(registry);
            if per_host.is_dir() {
                vec![per_host]
            } else {
                vec![dir.to_path_buf()]
            }
        }
        None => ["/etc/docker/certs.d", "/etc/containers/certs.d"]
            .iter()
            .map(|d| Path::new(d).join(registry))
            .filter(|d| d.is_dir())
            .collect(),
    }
}

/// Load the certificates for `registry`.
pub fn load(registry: &str, cert_dir: Option<&Path>) -> Result<Material> {
    let mut material = Material::default();
    for dir in directories(registry, cert_dir) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .io_context(|| format!("reading certificate directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in &entries {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            match ext {
                "crt" => {
                    let pem = std::fs::read(path)
                        .io_context(|| format!("reading CA certificate {}", path.display()))?;
                    let certs = pem_certificates(&pem);
                    if certs.is_empty() {
                        return Err(Error::invalid(format!(
                            "{} holds no PEM certificate",
                            path.display()
                        )));
                    }
                    material.roots.extend(certs);
                }
                "cert" => {
                    let key_path = path.with_extension("key");
                    let pem = std::fs::read(path)
                        .io_context(|| format!("reading client certificate {}", path.display()))?;
                    let key_pem = std::fs::read(&key_path).io_context(|| {
                        format!(
                            "reading {} (the key of client certificate {})",
                            key_path.display(),
                            path.display()
                        )
                    })?;
                    let key = pem_key(&key_pem).ok_or_else(|| {
                        Error::invalid(format!("{} holds no PEM private key", key_path.display()))
                    })?;
                    material.client = Some((pem_certificates(&pem), key));
                }
                _ => {}
            }
        }
    }
    if !material.roots.is_empty() {
        if let Ok(bundle) = std::fs::read(SYSTEM_BUNDLE) {
            material.roots.extend(pem_certificates(&bundle));
        }
    }
    Ok(material)
}

/// For the certificate loader: parse PEM certificates.
fn pem_certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// For the certificate loader: parse a PEM private key.
fn pem_key(pem: &[u8]) -> Option<PrivateKey<'static>> {
    PrivateKey::from_pem(pem).ok()
}

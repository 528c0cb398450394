//! The flags every registry program shares (`--creds`, `--tls-verify`,
//! `--cert-dir`, `--insecure-registry`), the one pulls add
//! (`--registry-mirror`), and the connection settings they become, with
//! what `registries.conf` says.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Args};

use crate::credentials::Credentials;
use crate::registries_conf::RegistriesConf;
use img_core::error::{Error, Result};

/// Registry flags, flattened into img-pull, img-push, img-login and img-search.
#[derive(Debug, Clone, Args, Default)]
pub struct RegistryArgs {
    /// Credentials for the registry, instead of the stored ones (asked for on the terminal when PASSWORD is left out)
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,
    /// Require HTTPS with a verified certificate; false skips verification and allows plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// Trust the CA certificates (*.crt) and use the client certificate (*.cert, *.key) in DIR, or in DIR/HOST:PORT (Docker's certs.d layout)
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Allow plain HTTP for this registry, as Docker's insecure-registries does (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

/// How to connect to registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Credentials that replace the stored ones.
    pub credentials: Option<Credentials>,
    /// Verify certificates and refuse plain HTTP (except for loopback and
    /// insecure registries).
    pub tls_verify: bool,
    /// Extra CA and client certificates.
    pub cert_dir: Option<PathBuf>,
    /// Registries that may be spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// How long a read or write may stall before the connection is given up
    /// (and a download resumed on a new one).
    pub stall_timeout: Duration,
    /// `registries.conf` (mirrors, locations, insecure and blocked
    /// registries) and the run's `--registry-mirror`s.
    pub registries: Arc<RegistriesConf>,
}

/// The flag of the programs that pull (img-pull, img-run, img-build).
#[derive(Debug, Clone, Args, Default)]
pub struct MirrorArgs {
    /// Try this Docker Hub mirror first, as dockerd's registry-mirrors ([http[s]://]HOST[:PORT]; http:// allows plain HTTP; repeatable)
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
}

impl MirrorArgs {
    /// The connection settings `registry` asks for, with these mirrors
    /// before the configured ones.
    pub fn options(&self, registry: &RegistryArgs) -> Result<ClientOptions> {
        let mut options = registry.options()?;
        if !self.registry_mirrors.is_empty() {
            let registries = Arc::make_mut(&mut options.registries);
            for url in &self.registry_mirrors {
                registries.add_hub_mirror(url)?;
            }
        }
        Ok(options)
    }
}

/// The stall timeout when `IMG_REGISTRY_TIMEOUT` does not set one.
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: None,
            tls_verify: true,
            cert_dir: None,
            insecure_registries: Vec::new(),
            stall_timeout: stall_timeout_from_env(),
            registries: Arc::default(),
        }
    }
}

fn stall_timeout_from_env() -> Duration {
    std::env::var("IMG_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(DEFAULT_STALL_TIMEOUT, Duration::from_secs_f64)
}

impl RegistryArgs {
    /// The connection settings these flags ask for, with `registries.conf`
    /// read from its standard places.
    pub fn options(&self) -> Result<ClientOptions> {
        let credentials = self
            .creds
            .as_deref()
            .map(Credentials::from_flag)
            .transpose()?;
        if let Some(dir) = &self.cert_dir {
            if !dir.is_dir() {
                return Err(Error::invalid(format!(
                    "--cert-dir {}: not a directory",
                    dir.display()
                )));
            }
        }
        Ok(ClientOptions {
            credentials,
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            insecure_registries: self.insecure_registries.clone(),
            registries: Arc::new(RegistriesConf::load()?),
            ..ClientOptions::default()
        })
    }
}

impl ClientOptions {
    /// Whether plain HTTP may be tried for `host` (host[:port]): loopback
    /// addresses and `localhost` always (Docker's rule for 127.0.0.0/8), the
    /// registries named insecure (by flag or in registries.conf), and every
    /// registry without `--tls-verify`.
    pub fn allows_http(&self, host: &str) -> bool {
        !self.tls_verify
            || is_loopback(host)
            || self.insecure_registries.iter().any(|r| r == host)
            || self.registries.insecure(host)
    }

    /// Whether `host`'s TLS certificate must verify: unless `--tls-verify=false`
    /// or registries.conf calls the host insecure.
    pub fn verifies_tls(&self, host: &str) -> bool {
        self.tls_verify && !self.registries.insecure(host)
    }
}

/// Whether host[:port] names this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.3.4.5",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "[::2]:1",
            "localhost.example",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}

//! Real `docker-registry` servers for the tests, each on 127.0.0.1 on a free
//! port with its own temporary storage: open, with htpasswd Basic auth, with
//! token auth (the registry's `auth: token` mode, tokens from the small
//! issuer in `registry/issuer.rs`, signed with a key whose certificate the
//! registry trusts),
//! and over TLS with a self-signed CA made by openssl. Every server is
//! stopped by its PID when dropped. The access log is kept for counting
//! requests.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod issuer;

pub use issuer::{TokenIssuer, TokenRequest};

/// How a test registry authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull and push.
    Open,
    /// htpasswd Basic auth (user `tester`, password [`PASSWORD`]).
    Htpasswd,
    /// Bearer tokens from [`TokenIssuer`] (same user and password).
    Token,
}

/// Whether and how a test registry speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tls {
    /// Plain HTTP.
    #[default]
    None,
    /// HTTPS with a certificate from a test CA ([`Registry::ca_dir`]).
    Server,
    /// HTTPS that also demands a client certificate signed by a second test
    /// CA ([`Registry::client_dir`] holds `client.cert` and `client.key`).
    Mutual,
}

/// How a test registry is set up besides its authentication.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// TLS.
    pub tls: Tls,
    /// The most repositories a catalog page holds (`catalog.maxentries`).
    pub catalog_page: Option<usize>,
    /// A pull-through cache of this registry (`http://HOST:PORT`): the
    /// `proxy:` section, which makes it read-only and fetches what it
    /// lacks from there.
    pub proxy_of: Option<String>,
}

/// The user every authenticated test registry knows.
pub const USER: &str = "tester";
/// Its password.
pub const PASSWORD: &str = "s3cret-Pa55";

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The CA certificate directory (TLS registries): `ca.crt` inside.
    pub ca_dir: Option<PathBuf>,
    /// A client certificate the registry accepts (mutual TLS):
    /// `client.cert` and `client.key` inside.
    pub client_dir: Option<PathBuf>,
    /// The token issuer (token registries).
    pub issuer: Option<TokenIssuer>,
    /// How it authenticates.
    pub auth: Auth,
    child: Child,
    dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Registry {
    /// An open registry over plain HTTP.
    pub fn open() -> Registry {
        Registry::start(Auth::Open, false)
    }

    /// [`Registry::open`] holding the big fixture ([`big_fixture`]) as
    /// `test/big:1`.
    pub fn open_with_big() -> Registry {
        let registry = Registry::open();
        registry.skopeo_push(&big_fixture(), "big", "test/big:1");
        registry
    }

    /// Start a registry with `auth`, over TLS when `tls`.
    pub fn start(auth: Auth, tls: bool) -> Registry {
        let tls = if tls { Tls::Server } else { Tls::None };
        Registry::start_with(
            auth,
            Setup {
                tls,
                ..Setup::default()
            },
        )
    }

    /// Start a registry with `auth` and `setup`.
    pub fn start_with(auth: Auth, setup: Setup) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut extra = String::new();
        let mut issuer = None;
        match auth {
            Auth::Open => {}
            Auth::Htpasswd => {
                sh(
                    dir.path(),
                    &format!("htpasswd -Bbn {USER} {PASSWORD} > htpasswd"),
                );
                extra.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: img-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                ));
            }
            Auth::Token => {
                let token_issuer = TokenIssuer::start(dir.path());
                extra.push_str(&format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: img-test-registry\n    issuer: img-test-issuer\n    rootcertbundle: {}\n",
                    token_issuer.host,
                    dir.path().join("token.crt").display()
                ));
                issuer = Some(token_issuer);
            }
        }
        let mut ca_dir = None;
        let mut client_dir = None;
        let mut tls_config = String::new();
        if setup.tls != Tls::None {
            let ca = dir.path().join("ca");
            std::fs::create_dir_all(&ca).unwrap();
            sh(
                dir.path(),
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca/ca.crt -days 2 -subj /CN=img-test-ca \
                   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
                 openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
                 printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
                 openssl x509 -req -in server.csr -CA ca/ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext 2>/dev/null",
            );
            tls_config = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            );
            ca_dir = Some(ca);
        }
        if setup.tls == Tls::Mutual {
            let client = dir.path().join("client");
            std::fs::create_dir_all(&client).unwrap();
            sh(
                dir.path(),
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client-ca.key -out client-ca.crt -days 2 -subj /CN=img-test-client-ca \
                   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
                 openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client/client.key -out client.csr -subj /CN=img-tester 2>/dev/null
                 printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > client-ext
                 openssl x509 -req -in client.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -out client/client.cert -days 2 -extfile client-ext 2>/dev/null",
            );
            tls_config.push_str(&format!(
                "    clientcas:\n      - {}\n",
                dir.path().join("client-ca.crt").display()
            ));
            client_dir = Some(client);
        }
        if let Some(n) = setup.catalog_page {
            extra.push_str(&format!("catalog:\n  maxentries: {n}\n"));
        }
        if let Some(upstream) = &setup.proxy_of {
            extra.push_str(&format!("proxy:\n  remoteurl: {upstream}\n"));
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: img-test-secret\n{tls_config}{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", "config.yml"])
            .current_dir(dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            host,
            port,
            ca_dir,
            client_dir,
            issuer,
            auth,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start:\n{}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// The registry's log so far (access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Access-log lines of requests with `method` whose path contains `part`.
    pub fn requests(&self, method: &str, part: &str) -> usize {
        self.count_requests(method, part, false)
    }

    /// Access-log lines of requests that img sent (its User-Agent) with
    /// `method` whose path contains `part` — not those of another
    /// registry filling its cache from this one.
    pub fn img_requests(&self, method: &str, part: &str) -> usize {
        self.count_requests(method, part, true)
    }

    fn count_requests(&self, method: &str, part: &str, img_only: bool) -> usize {
        let prefix = format!("\"{method} ");
        self.log()
            .lines()
            .filter(|l| !img_only || l.contains(" \"img/"))
            .filter(|l| {
                l.find(&prefix).is_some_and(|i| {
                    l[i + prefix.len()..]
                        .split(' ')
                        .next()
                        .unwrap_or("")
                        .contains(part)
                })
            })
            .count()
    }

    /// Push an OCI-layout image into this registry with skopeo.
    pub fn skopeo_push(&self, layout: &Path, image: &str, dest: &str) {
        let mut args = vec![
            "copy".to_string(),
            "-q".to_string(),
            "--dest-tls-verify=false".to_string(),
        ];
        if self.auth != Auth::Open {
            args.push(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        if let Some(client) = &self.client_dir {
            args.push(format!("--dest-cert-dir={}", client.display()));
        }
        args.push(format!("oci:{}:{image}", layout.display()));
        args.push(format!("docker://{}/{dest}", self.host));
        let out = Command::new("skopeo").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The digest of the manifest `reference` names, as skopeo reads it from
/// the registry (without TLS verification).
pub fn remote_digest(env: &crate::Env, reference: &str) -> String {
    let run = env
        .sh(&format!(
            "skopeo inspect --raw --tls-verify=false docker://{reference} | sha256sum | cut -d' ' -f1"
        ))
        .ok();
    format!("sha256:{}", run.stdout.trim())
}

/// The big fixture's image manifest (the image named `big` in it).
pub fn big_fixture_manifest() -> oci_spec::image::ImageManifest {
    let store = img_store::Store::open(big_fixture()).unwrap();
    let found = store.resolve("big").unwrap();
    let img_core::image::Target::Image(image) = &found.target else {
        panic!("the big fixture names one image")
    };
    image.manifest.clone()
}

/// An OCI layout with `big`: the fixture `base` plus a layer of 80 MiB of
/// incompressible (but deterministic) bytes — large enough that img-pull
/// fetches it as parallel ranges, and that faults land mid-blob.
pub fn big_fixture() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Deterministic content, so one copy serves every test run; it is
        // built aside and renamed into place, so a half-made one is never used.
        let done = std::env::temp_dir().join("img-big-fixture-v1");
        let layout = done.join("layout");
        if layout.join("index.json").exists() {
            return layout;
        }
        let dir = std::env::temp_dir().join(format!("img-big-fixture-v1.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = crate::fixtures();
        sh(
            &dir,
            &format!(
                "skopeo copy -q oci:{}:base oci:layout:big
                 umoci unpack --image layout:big b >/dev/null
                 head -c 83886080 /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 -nosalt > b/rootfs/big.bin
                 umoci repack --image layout:big b >/dev/null
                 umoci gc --layout layout
                 rm -rf b",
                base.display()
            ),
        );
        if std::fs::rename(&dir, &done).is_err() {
            // Another test run finished it first.
            let _ = std::fs::remove_dir_all(&dir);
        }
        layout
    })
    .clone()
}

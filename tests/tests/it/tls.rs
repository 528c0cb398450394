//! HTTPS registries: the server's certificate verified against a private
//! CA from `--cert-dir` (or Docker's `certs.d/HOST:PORT` layout), and a
//! client certificate (`*.cert` with its `*.key`) for registries that
//! demand one (docker-registry's `http.tls.clientcas`).

#![allow(clippy::unwrap_used)]

use img_tests::registry::{Auth, Registry, Setup, Tls};
use img_tests::{fixtures, need, peers, Env};

#[test]
fn tls_is_verified_with_the_ca_from_cert_dir() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::start(Auth::Open, true);
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &registry.host;
    let run = env.sh(&format!("img-pull {host}/test/base:1")).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    let ca = registry.ca_dir.as_ref().unwrap();
    env.sh(&format!(
        "img-pull --cert-dir {} {host}/test/base:1",
        ca.display()
    ))
    .ok();
    // Docker's certs.d layout: DIR/HOST:PORT/ca.crt
    env.sh(&format!(
        "mkdir -p certs.d/{host} && cp {}/ca.crt certs.d/{host}/ && img-pull --cert-dir certs.d {host}/test/base:1",
        ca.display()
    ))
    .ok();
    env.sh(&format!("img-pull --tls-verify=false {host}/test/base:1"))
        .ok();
    env.check_store();
}

#[test]
fn client_certificates_from_cert_dir() {
    if !need(peers::TLS_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::start_with(
        Auth::Open,
        Setup {
            tls: Tls::Mutual,
            ..Setup::default()
        },
    );
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &registry.host;
    let ca = registry.ca_dir.as_ref().unwrap().join("ca.crt");
    let client = registry.client_dir.as_ref().unwrap();
    // The CA alone: the registry refuses the connection; one line that says
    // what is missing.
    let run = env
        .sh(&format!(
            "mkdir -p only-ca && cp {} only-ca/ && img-pull --cert-dir only-ca {host}/test/base:1",
            ca.display()
        ))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("client certificate"), "{}", run.stderr);
    // Docker's layout: certs.d/HOST:PORT/{ca.crt, client.cert, client.key}.
    env.sh(&format!(
        "mkdir -p certs.d/{host} && cp {} {}/client.cert {}/client.key certs.d/{host}/
         img-pull --cert-dir certs.d {host}/test/base:1",
        ca.display(),
        client.display(),
        client.display()
    ))
    .ok();
    // A certificate without its key: one line naming the missing file.
    let run = env
        .sh(&format!(
            "mkdir -p nokey && cp {} {}/client.cert nokey/ && img-pull --cert-dir nokey {host}/test/base:1",
            ca.display(),
            client.display()
        ))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("client.key"), "{}", run.stderr);
    // Pushing over mutual TLS too.
    env.sh(&format!(
        "img-push --cert-dir certs.d {host}/test/base:1 --to {host}/test/copy:1"
    ))
    .ok();
    env.check_store();
}

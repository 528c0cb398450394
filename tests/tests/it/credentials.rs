//! Where img-pull and img-push find credentials: `--creds`,
//! `$REGISTRY_AUTH_FILE`, Docker's config.json (`credHelpers` per registry,
//! `credsStore`, `auths`), containers' auth.json under `$XDG_RUNTIME_DIR`
//! (as `skopeo login` writes it) — and that no password ever shows in what
//! they print. Every script runs with its own `$HOME`, so no real
//! configuration is read.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use img_tests::registry::{Auth, Registry, PASSWORD, USER};
use img_tests::{fixtures, need, Env};

fn tools() -> bool {
    need(&[
        "docker-registry",
        "skopeo",
        "umoci",
        "busybox",
        "openssl",
        "htpasswd",
    ])
}

/// A password that is wrong, and easy to look for in output.
const WRONG: &str = "Wr0ng-PassWord-xyzzy";

/// A registry with Basic auth holding `test/base:1`, and an environment
/// whose `$HOME` and `$DOCKER_CONFIG` are empty directories of its own.
fn setup() -> (Registry, Env, String) {
    let registry = Registry::start(Auth::Htpasswd, false);
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let env = Env::new();
    for dir in ["home", "docker", "run", "bin"] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    let prefix = format!(
        "export HOME={} DOCKER_CONFIG={} XDG_RUNTIME_DIR= REGISTRY_AUTH_FILE= PATH={}:$PATH; ",
        env.path("home").display(),
        env.path("docker").display(),
        env.path("bin").display()
    );
    (registry, env, prefix)
}

fn auths(host: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)
}

/// A credential helper `docker-credential-NAME` that answers `get` for
/// `host` with `password`, and says "not found" for any other server.
fn helper(env: &Env, name: &str, host: &str, password: &str) {
    let path = env.path("bin").join(format!("docker-credential-{name}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nif [ \"$server\" = '{host}' ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{password}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The pull fails with one line that names the refusal (of whose
/// credentials, when there were some) and shows no secret.
#[track_caller]
fn refused(env: &Env, script: &str) {
    refused_as(
        env,
        script,
        &format!("the credentials of user {USER} were refused"),
    );
}

#[track_caller]
fn refused_as(env: &Env, script: &str, why: &str) {
    let run = env.sh(script).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 401") && run.stderr.contains(why),
        "{}",
        run.stderr
    );
    for secret in [WRONG, PASSWORD] {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "a secret leaked: {run:?}"
        );
    }
}

#[test]
fn cred_helpers_are_asked_per_registry_before_the_creds_store() {
    if !tools() {
        return;
    }
    let (registry, env, cfg) = setup();
    let host = &registry.host;
    helper(&env, "right", host, PASSWORD);
    helper(&env, "wrong", host, WRONG);
    let config = env.path("docker/config.json");
    // credHelpers names the helper for this registry; the global
    // credsStore (wrong) is not asked.
    std::fs::write(
        &config,
        format!(r#"{{"credsStore":"wrong","credHelpers":{{"{host}":"right"}}}}"#),
    )
    .unwrap();
    let run = env.sh(&format!("{cfg} img-pull {host}/test/base:1")).ok();
    assert!(!run.stderr.contains(PASSWORD));
    // A helper for another registry: the creds store answers, wrongly.
    std::fs::write(
        &config,
        r#"{"credsStore":"wrong","credHelpers":{"elsewhere.example":"right"}}"#,
    )
    .unwrap();
    refused(&env, &format!("{cfg} img-pull -q {host}/test/base:1"));
    // A helper that is not installed: one line that says so.
    std::fs::write(
        &config,
        format!(r#"{{"credHelpers":{{"{host}":"nosuch"}}}}"#),
    )
    .unwrap();
    let run = env
        .sh(&format!("{cfg} img-pull -q {host}/test/base:1"))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("docker-credential-nosuch") && run.stderr.contains("PATH"),
        "{}",
        run.stderr
    );
    env.check_store();
}

#[test]
fn registry_auth_file_and_containers_auth_json() {
    if !tools() {
        return;
    }
    let (registry, env, cfg) = setup();
    let host = &registry.host;
    // Wrong credentials in Docker's config...
    std::fs::write(env.path("docker/config.json"), auths(host, WRONG)).unwrap();
    refused(&env, &format!("{cfg} img-pull -q {host}/test/base:1"));
    // ...are overridden by $REGISTRY_AUTH_FILE,
    std::fs::write(env.path("auth.json"), auths(host, PASSWORD)).unwrap();
    env.sh(&format!(
        "{cfg} REGISTRY_AUTH_FILE=$PWD/auth.json img-pull -q {host}/test/base:1"
    ))
    .ok();
    // ...and by --creds.
    env.sh(&format!(
        "{cfg} img-push -q {host}/test/base:1 --to {host}/test/copy:1 --creds {USER}:{PASSWORD}"
    ))
    .ok();
    refused(
        &env,
        &format!(
            "{cfg} REGISTRY_AUTH_FILE=$PWD/auth.json img-pull -q --creds {USER}:{WRONG} {host}/test/base:1"
        ),
    );

    // containers' auth.json in $XDG_RUNTIME_DIR, as `skopeo login` writes it.
    std::fs::remove_file(env.path("docker/config.json")).unwrap();
    let run_dir = env.path("run");
    let xdg = format!("{cfg} export XDG_RUNTIME_DIR={}; ", run_dir.display());
    refused_as(
        &env,
        &format!("{xdg} img-pull -q {host}/test/base:1"),
        "log in with img-login",
    );
    env.sh_with_stdin(
        &format!(
            "{xdg} skopeo login --tls-verify=false --authfile $XDG_RUNTIME_DIR/containers/auth.json -u {USER} --password-stdin {host} >/dev/null"
        ),
        Some(PASSWORD.as_bytes()),
    )
    .ok();
    let run = env.sh(&format!("{xdg} img-pull {host}/test/base:1")).ok();
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD));
    // A wrong password there: refused, and not shown.
    std::fs::write(run_dir.join("containers/auth.json"), auths(host, WRONG)).unwrap();
    refused(&env, &format!("{xdg} img-pull -q {host}/test/base:1"));
    // An auth file that is not JSON: one line naming the file.
    std::fs::write(run_dir.join("containers/auth.json"), "{oops").unwrap();
    let run = env
        .sh(&format!("{xdg} img-pull -q {host}/test/base:1"))
        .code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("auth.json"), "{}", run.stderr);
    env.check_store();
}

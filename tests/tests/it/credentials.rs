//! Where img-pull and img-push find credentials: `--creds`,
//! `$REGISTRY_AUTH_FILE`, Docker's config.json (`credHelpers` per registry,
//! `credsStore`, `auths`), containers' auth.json under `$XDG_RUNTIME_DIR`
//! (as `skopeo login` writes it), identity tokens (OAuth2 refresh tokens)
//! from config.json and credential helpers — and that no password or token
//! ever shows in what they print. Every script runs with its own `$HOME`,
//! so no real configuration is read.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use img_tests::registry::{Auth, Registry, TokenIssuer, TokenRequest, PASSWORD, USER};
use img_tests::{fixtures, need, peers, Env};

/// A password that is wrong, and easy to look for in output.
const WRONG: &str = "Wr0ng-PassWord-xyzzy";

/// A registry with Basic auth holding `test/base:1`, and an environment
/// whose `$HOME` and `$DOCKER_CONFIG` are empty directories of its own.
fn setup() -> (Registry, Env, String) {
    setup_with(Auth::Htpasswd)
}

/// As [`setup`], with a registry that authenticates with `auth`.
fn setup_with(auth: Auth) -> (Registry, Env, String) {
    let registry = Registry::start(auth, false);
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
        no_secret(&run, secret);
    }
}

#[test]
fn cred_helpers_are_asked_per_registry_before_the_creds_store() {
    if !need(peers::AUTH_REGISTRY) {
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
    if !need(peers::AUTH_REGISTRY) {
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

/// A refresh token the token issuer never issued, easy to look for.
const BOGUS_TOKEN: &str = "img-test-refresh-bogus-Xyzzy42";

/// `config.json` with only an `identitytoken` for `host`.
fn identity_token_config(host: &str, token: &str) -> String {
    format!(r#"{{"auths":{{"{host}":{{"identitytoken":"{token}"}}}}}}"#)
}

/// Mint a refresh token and make it the only credential for `registry` in
/// `env`'s config.json; returns it.
fn use_identity_token(registry: &Registry, env: &Env) -> String {
    let token = registry.issuer.as_ref().unwrap().mint_refresh_token();
    std::fs::write(
        env.path("docker/config.json"),
        identity_token_config(&registry.host, &token),
    )
    .unwrap();
    token
}

/// A credential helper `docker-credential-NAME` that answers `get` with an
/// identity token, as helpers do: the user `<token>`, the token as secret.
fn token_helper(env: &Env, name: &str, token: &str) {
    let path = env.path("bin").join(format!("docker-credential-{name}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"{token}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The token requests made since `seen`: each one a POST of the refresh
/// token (never a GET, never Basic), granted; and they asked for `scope`.
#[track_caller]
fn traded_by_post(issuer: &TokenIssuer, seen: usize, token: &str, scope: &str) {
    let asked: Vec<TokenRequest> = issuer.requests()[seen..].to_vec();
    assert!(!asked.is_empty(), "no token was asked for");
    for r in &asked {
        assert_eq!(r.method, "POST", "{r:?}");
        assert!(!r.basic, "Basic authentication was sent: {r:?}");
        assert!(r.query.is_empty(), "the form went in the URL: {r:?}");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.param("grant_type"), Some("refresh_token"), "{r:?}");
        assert_eq!(r.param("refresh_token"), Some(token), "{r:?}");
        assert_eq!(r.param("client_id"), Some("img"), "{r:?}");
        assert_eq!(r.param("service"), Some("img-test-registry"), "{r:?}");
    }
    assert!(
        asked.iter().any(|r| r.param("scope") == Some(scope)),
        "no request for {scope}: {asked:?}"
    );
}

#[track_caller]
fn no_secret(run: &img_tests::Run, secret: &str) {
    assert!(
        !run.stderr.contains(secret) && !run.stdout.contains(secret),
        "a secret leaked: {run:?}"
    );
}

#[test]
fn identity_tokens_in_config_json_are_traded_by_post() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let (registry, env, cfg) = setup_with(Auth::Token);
    let host = &registry.host;
    let issuer = registry.issuer.as_ref().unwrap();
    // Only the identity token, no user name: pull and push work with it.
    let token = use_identity_token(&registry, &env);
    let seen = issuer.requests().len();
    let run = env
        .sh(&format!(
            "{cfg} img-pull {host}/test/base:1 && img-push {host}/test/base:1 --to {host}/test/copy:1"
        ))
        .ok();
    no_secret(&run, &token);
    traded_by_post(issuer, seen, &token, "repository:test/base:pull");
    assert!(
        issuer.requests()[seen..].iter().any(|r| r
            .param("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "repository:test/copy:pull,push"))),
        "{:?}",
        issuer.requests()
    );
    // What was pushed is there.
    env.sh(&format!(
        "skopeo inspect --tls-verify=false --creds {USER}:{PASSWORD} docker://{host}/test/copy:1 >/dev/null"
    ))
    .ok();
    env.check_store();
}

#[test]
fn credential_helpers_answering_token_users_give_identity_tokens() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let (registry, env, cfg) = setup_with(Auth::Token);
    let host = &registry.host;
    let issuer = registry.issuer.as_ref().unwrap();
    let token = issuer.mint_refresh_token();
    token_helper(&env, "tok", &token);
    std::fs::write(env.path("docker/config.json"), r#"{"credsStore":"tok"}"#).unwrap();
    let seen = issuer.requests().len();
    let run = env.sh(&format!("{cfg} img-pull {host}/test/base:1")).ok();
    assert_eq!(run.records().len(), 1);
    no_secret(&run, &token);
    traded_by_post(issuer, seen, &token, "repository:test/base:pull");

    // A helper answering a token the service does not know: refused.
    token_helper(&env, "tok", BOGUS_TOKEN);
    token_refused(
        &env,
        &format!("{cfg} img-pull -q {host}/test/base:1"),
        BOGUS_TOKEN,
    );
    env.check_store();
}

/// The run fails with one line naming the refused identity token, shows
/// no secret, and names no new image.
#[track_caller]
fn token_refused(env: &Env, script: &str, token: &str) -> img_tests::Run {
    let names_before = env.sh("img-ls -q -a | sort").ok().stdout;
    let run = env.sh(script).code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("identity token") && run.stderr.contains("img-login"),
        "{}",
        run.stderr
    );
    no_secret(&run, token);
    no_secret(&run, PASSWORD);
    assert_eq!(env.sh("img-ls -q -a | sort").ok().stdout, names_before);
    run
}

#[test]
fn refused_identity_tokens_fail_in_one_line_and_never_go_out_as_passwords() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let (registry, env, cfg) = setup_with(Auth::Token);
    let host = &registry.host;
    let issuer = registry.issuer.as_ref().unwrap();
    let config = env.path("docker/config.json");
    let pull = format!("{cfg} img-pull -q {host}/test/base:1");

    // A token the service never issued.
    std::fs::write(&config, identity_token_config(host, BOGUS_TOKEN)).unwrap();
    let seen = issuer.requests().len();
    let run = token_refused(&env, &pull, BOGUS_TOKEN);
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    let asked = issuer.requests()[seen..].to_vec();
    assert!(
        asked
            .iter()
            .all(|r| r.method == "POST" && !r.basic && r.status == 401),
        "{asked:?}"
    );

    // A token that worked, then was revoked.
    let token = issuer.mint_refresh_token();
    std::fs::write(&config, identity_token_config(host, &token)).unwrap();
    env.sh(&pull).ok();
    issuer.revoke_refresh_tokens();
    env.sh("img-rm -f $(img-ls -q -a) >/dev/null").ok();
    token_refused(&env, &pull, &token);

    // A token service that does not take POST (no OAuth2): an error, and
    // no fallback that would send the token by GET or as Basic.
    let token = issuer.mint_refresh_token();
    std::fs::write(&config, identity_token_config(host, &token)).unwrap();
    issuer.set_oauth(false);
    let seen = issuer.requests().len();
    let run = token_refused(&env, &pull, &token);
    assert!(
        run.stderr.contains("does not take identity tokens") && run.stderr.contains("HTTP 404"),
        "{}",
        run.stderr
    );
    let asked = issuer.requests()[seen..].to_vec();
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r.method == "POST" && !r.basic),
        "{asked:?}"
    );
    env.check_store();
}

#[test]
fn identity_tokens_are_not_sent_to_basic_registries() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let (registry, env, cfg) = setup();
    let host = &registry.host;
    std::fs::write(
        env.path("docker/config.json"),
        identity_token_config(host, BOGUS_TOKEN),
    )
    .unwrap();
    let run = token_refused(
        &env,
        &format!("{cfg} img-pull -q {host}/test/base:1"),
        BOGUS_TOKEN,
    );
    assert!(
        run.stderr.contains("Basic authentication"),
        "{}",
        run.stderr
    );
    // It failed before any request for the image was sent.
    assert_eq!(
        registry.requests("GET", "/v2/test/"),
        0,
        "{}",
        registry.log()
    );
    env.check_store();
}

#[test]
fn a_refresh_token_the_service_rotates_is_followed_within_a_run() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let (registry, env, cfg) = setup_with(Auth::Token);
    let host = &registry.host;
    let issuer = registry.issuer.as_ref().unwrap();
    let token = use_identity_token(&registry, &env);
    env.sh(&format!("{cfg} img-pull -q {host}/test/base:1"))
        .ok();
    // Each refresh token works once from now: a push that needs tokens for
    // two scopes (the copy, and the copy with the source to mount from)
    // asks for the second with the one the first answer handed back.
    issuer.set_rotate(true);
    let seen = issuer.requests().len();
    let run = env
        .sh(&format!(
            "{cfg} img-push {host}/test/base:1 --to {host}/test/copy:1"
        ))
        .ok();
    let asked = issuer.requests()[seen..].to_vec();
    assert!(asked.len() >= 2, "{asked:?}");
    assert!(
        asked.iter().all(|r| r.method == "POST" && r.status == 200),
        "{asked:?}"
    );
    assert_eq!(asked[0].param("refresh_token"), Some(token.as_str()));
    for pair in asked.windows(2) {
        assert_ne!(
            pair[0].param("refresh_token"),
            pair[1].param("refresh_token")
        );
    }
    for r in &asked {
        no_secret(&run, r.param("refresh_token").unwrap());
    }
    env.check_store();
}

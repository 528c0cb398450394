#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use img_tests::registry::{Auth, Registry, PASSWORD, USER};
use img_tests::{fixtures, need, peers, Env};

#[test]
fn login_stores_docker_config_and_logout_forgets() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::start(Auth::Htpasswd, false);
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &registry.host;
    let docker = env.path("docker");
    let cfg = format!("export DOCKER_CONFIG={}; ", docker.display());
    let run = env
        .sh_with_stdin(
            &format!("{cfg} img-login {host} -u {USER} --password-stdin"),
            Some(format!("{PASSWORD}\n").as_bytes()),
        )
        .ok();
    assert!(run.stderr.contains("Login Succeeded"), "{}", run.stderr);
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker.join("config.json")).unwrap()).unwrap();
    assert!(
        config["auths"][host.as_str()]["auth"].is_string(),
        "{config}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(docker.join("config.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "config.json is private");
    // img-pull and skopeo use the stored credentials
    env.sh(&format!("{cfg} img-pull -q {host}/test/base:1"))
        .ok();
    env.sh(&format!("skopeo inspect --tls-verify=false --authfile {}/config.json docker://{host}/test/base:1 >/dev/null", docker.display())).ok();
    // a wrong password: one line, nothing stored
    let before = std::fs::read(docker.join("config.json")).unwrap();
    let run = env
        .sh_with_stdin(
            &format!("{cfg} img-login {host} -u {USER} --password-stdin"),
            Some(b"wrong-one\n"),
        )
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("incorrect username or password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-one"));
    assert_eq!(std::fs::read(docker.join("config.json")).unwrap(), before);
    // logout
    let run = env.sh(&format!("{cfg} img-login --logout {host}")).ok();
    assert!(
        run.stderr
            .contains(&format!("Removing login credentials for {host}")),
        "{}",
        run.stderr
    );
    env.sh(&format!("{cfg} img-pull -q {host}/test/base:1"))
        .code(1);
    env.check_store();
}

#[test]
fn login_to_a_token_registry_and_credential_helpers() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::start(Auth::Token, false);
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &registry.host;
    // a credential helper that keeps its secrets in a file
    let helper_dir = env.path("bin");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-imgtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/bash\nstore={}/helper.json\ncase $1 in\n store) cat > $store ;;\n get) read url; if [ -f $store ]; then jq -c '{{Username, Secret}}' $store; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n erase) rm -f $store ;;\nesac\n",
            env.path("").display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&helper).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = env.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), r#"{"credsStore":"imgtest"}"#).unwrap();
    let cfg = format!(
        "export DOCKER_CONFIG={} PATH={}:$PATH; ",
        docker.display(),
        helper_dir.display()
    );
    env.sh_with_stdin(
        &format!("{cfg} img-login {host} -u {USER} --password-stdin"),
        Some(PASSWORD.as_bytes()),
    )
    .ok();
    // The token service handed out a refresh token: the helper keeps it as
    // docker's helpers do, under the user `<token>`; not the password.
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("helper.json")).unwrap()).unwrap();
    assert_eq!(stored["Username"], "<token>", "{stored}");
    let token = stored["Secret"].as_str().unwrap().to_string();
    assert!(token.starts_with("img-test-refresh-"), "{stored}");
    assert!(!std::fs::read_to_string(docker.join("config.json"))
        .unwrap()
        .contains("auths\""));
    let issuer = registry.issuer.as_ref().unwrap();
    let posts = issuer.posts();
    let run = env.sh(&format!("{cfg} img-pull {host}/test/base:1 && img-push {host}/test/base:1 --to {host}/test/copy:1")).ok();
    assert!(issuer.posts() > posts, "{:?}", issuer.requests());
    assert!(!run.stderr.contains(&token));
    assert!(
        run.stderr.contains("Layer already exists") || run.stderr.contains("Mounted from"),
        "{}",
        run.stderr
    );
    let run = env
        .sh_with_stdin(
            &format!("{cfg} img-login {host} -u {USER} --password-stdin"),
            Some(b"bad"),
        )
        .code(1);
    assert!(
        run.stderr.contains("incorrect username or password"),
        "{}",
        run.stderr
    );
    env.sh(&format!("{cfg} img-login --logout {host}")).ok();
    assert!(!env.path("helper.json").exists());
    env.check_store();
}

#[test]
fn login_to_a_token_registry_stores_the_identity_token_as_docker_does() {
    if !need(peers::AUTH_REGISTRY) {
        return;
    }
    let env = Env::new();
    let registry = Registry::start(Auth::Token, false);
    registry.skopeo_push(&fixtures(), "base", "test/base:1");
    let host = &registry.host;
    let issuer = registry.issuer.as_ref().unwrap();
    let docker = env.path("docker");
    let cfg = format!(
        "export HOME={} DOCKER_CONFIG={} XDG_RUNTIME_DIR= REGISTRY_AUTH_FILE=; ",
        env.path("").display(),
        docker.display()
    );
    let seen = issuer.requests().len();
    let run = env
        .sh_with_stdin(
            &format!("{cfg} img-login {host} -u {USER} --password-stdin"),
            Some(format!("{PASSWORD}\n").as_bytes()),
        )
        .ok();
    assert!(run.stderr.contains("Login Succeeded"), "{}", run.stderr);
    assert!(run.stderr.contains("identity token"), "{}", run.stderr);
    // The login asked for an offline token, with the password, as docker
    // login does.
    let asked = issuer.requests()[seen..].to_vec();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let login = &asked[0];
    assert_eq!(login.method, "GET");
    assert!(login.basic);
    assert_eq!(login.param("offline_token"), Some("true"), "{login:?}");
    assert_eq!(login.param("client_id"), Some("img"), "{login:?}");
    assert_eq!(login.param("account"), Some(USER), "{login:?}");
    // Docker's entry: `auth` holds `USER:` only, the token beside it.
    let text = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = &config["auths"][host.as_str()];
    let token = entry["identitytoken"].as_str().unwrap().to_string();
    assert!(token.starts_with("img-test-refresh-"), "{config}");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:"));
    assert_eq!(
        entry,
        &serde_json::json!({"auth": auth, "identitytoken": token}),
        "{config}"
    );
    assert!(!run.stderr.contains(&token) && !run.stdout.contains(&token));

    // img-pull uses it: POSTs of the token, no password anywhere.
    let seen = issuer.requests().len();
    let run = env.sh(&format!("{cfg} img-pull {host}/test/base:1")).ok();
    assert_eq!(run.records().len(), 1);
    assert!(!run.stderr.contains(&token));
    let asked = issuer.requests()[seen..].to_vec();
    assert!(
        !asked.is_empty()
            && asked.iter().all(|r| r.method == "POST"
                && !r.basic
                && r.query.is_empty()
                && r.param("refresh_token") == Some(token.as_str())),
        "{asked:?}"
    );
    // So does skopeo, from the same file.
    env.sh(&format!(
        "skopeo inspect --tls-verify=false --authfile {}/config.json docker://{host}/test/base:1 >/dev/null",
        docker.display()
    ))
    .ok();

    // --logout removes the token; the registry is then closed to us.
    let run = env.sh(&format!("{cfg} img-login --logout {host}")).ok();
    assert!(
        run.stderr
            .contains(&format!("Removing login credentials for {host}")),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(host.as_str()),
        "{text}"
    );
    env.sh(&format!("{cfg} img-pull -q {host}/test/base:1"))
        .code(1);
    env.check_store();
}

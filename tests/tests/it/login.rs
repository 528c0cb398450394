#![allow(clippy::unwrap_used)]

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

#[test]
fn login_stores_docker_config_and_logout_forgets() {
    if !tools() {
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
    if !tools() {
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
    let stored = std::fs::read_to_string(env.path("helper.json")).unwrap();
    assert!(stored.contains(USER), "{stored}");
    assert!(!std::fs::read_to_string(docker.join("config.json"))
        .unwrap()
        .contains("auths\""));
    let run = env.sh(&format!("{cfg} img-pull {host}/test/base:1 && img-push {host}/test/base:1 --to {host}/test/copy:1")).ok();
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

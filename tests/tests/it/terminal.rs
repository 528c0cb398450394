//! What the programs that make or name images print: records into pipes and
//! files, what the Docker CLI prints when stdout is a terminal, and with
//! `-q` the image ID alone (`ID=$(img-build -q .)`).

use img_tests::{need, on_terminal_output, Env};

const PEERS: &[&str] = &["skopeo", "umoci", "busybox", "python3"];

/// What `command` shows on a terminal (stdout and stderr both on it), with
/// the terminal's line ends made plain.
fn shown(env: &Env, command: &str) -> String {
    env.sh(&on_terminal_output(command))
        .ok()
        .stdout
        .replace("\r\n", "\n")
}

/// A root filesystem tar and the busybox fixture as `busybox`.
fn env_with_busybox() -> Env {
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("mkdir r && echo hi > r/hello.txt && tar -C r -cf rootfs.tar .")
        .ok();
    env
}

#[test]
fn on_a_terminal_programs_print_what_docker_prints() {
    if !need(PEERS) {
        return;
    }
    let env = env_with_busybox();
    let id = env.id("busybox");
    env.sh("img-save busybox -o busybox.tar").ok();
    // docker tag prints nothing
    assert_eq!(shown(&env, "img-tag busybox mine:1"), "");
    // docker load prints its lines on stdout, once (not on stderr too)
    assert_eq!(
        shown(&env, "img-load -i busybox.tar"),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(
        shown(&env, "img-load -q -i busybox.tar"),
        "Loaded image: busybox:latest\n"
    );
    // docker import and docker commit print the new image's ID, once
    let imported = shown(&env, "img-import rootfs.tar imported:1");
    assert_eq!(imported, format!("{}\n", env.id("imported:1")));
    let committed = shown(
        &env,
        "img-commit --no-layer -c 'ENV A=1' busybox committed:1",
    );
    assert_eq!(committed, format!("{}\n", env.id("committed:1")));
    // into a pipe: records, and people's lines on stderr
    let run = env.sh("img-load -i busybox.tar | cat").ok();
    assert_eq!(run.records().len(), 1);
    assert_eq!(run.stderr, "Loaded image: busybox:latest\n");
    let run = env.sh("img-tag busybox mine:2 > tagged.json").ok();
    assert_eq!(run.stdout, "");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("tagged.json")).unwrap()).unwrap();
    assert_eq!(
        record["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/mine:2"
    );
    assert_eq!(env.id("mine:2"), id);
    env.check_store();
}

#[test]
fn quiet_prints_the_image_id_alone() {
    if !need(PEERS) {
        return;
    }
    let env = env_with_busybox();
    let run = env
        .sh("ID=$(img-import -q rootfs.tar imported:1) && img-inspect -f '{{.Id}}' $ID")
        .ok();
    assert_eq!(run.stdout, format!("{}\n", env.id("imported:1")));
    assert_eq!(run.stderr, "");
    let run = env
        .sh("ID=$(img-commit -q --no-layer -c 'CMD [\"true\"]' busybox committed:1) && echo $ID")
        .ok();
    assert_eq!(run.stdout, format!("{}\n", env.id("committed:1")));
    assert_eq!(run.stderr, "");
    // the same on a terminal: -q is the ID alone there too
    let on_screen = shown(&env, "img-commit -q --no-layer busybox");
    assert!(
        on_screen.starts_with("sha256:") && on_screen.lines().count() == 1,
        "{on_screen}"
    );
    env.check_store();
}

#[test]
fn build_quiet_prints_the_image_id_alone() {
    if !need(&["skopeo", "umoci", "busybox", "python3", "runc"]) {
        return;
    }
    let env = env_with_busybox();
    env.sh("mkdir ctx && printf 'FROM busybox\\nCOPY hello.txt /\\n' > ctx/Dockerfile && echo hi > ctx/hello.txt")
        .ok();
    let run = env
        .sh("ID=$(img-build -q -t built:1 ctx) && echo $ID && echo $ID | img-tag again:1 >/dev/null")
        .ok();
    let id = run.stdout.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(env.id("again:1"), id);
    // into a pipe, the record; on a terminal, no record (the progress said it)
    let run = env.sh("img-build -t built:2 ctx 2>/dev/null").ok();
    assert_eq!(run.records().len(), 1);
    let on_screen = shown(&env, "img-build -t built:3 ctx");
    assert!(!on_screen.contains('{'), "{on_screen}");
    assert!(
        on_screen.contains("Successfully tagged built:3"),
        "{on_screen}"
    );
    env.check_store();
}

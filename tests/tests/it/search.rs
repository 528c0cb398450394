#![allow(clippy::unwrap_used)]

use img_tests::registry::{free_port, Registry};
use img_tests::{fixtures, need, Env};

#[test]
fn searches_a_registry_catalog_and_lists_tags() {
    if !need(&["docker-registry", "skopeo", "umoci", "busybox"]) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    let host = &registry.host;
    registry.skopeo_push(&fixtures(), "base", "team/app:1");
    registry.skopeo_push(&fixtures(), "base", "team/app:2");
    registry.skopeo_push(&fixtures(), "other", "team/tool:1");
    registry.skopeo_push(&fixtures(), "other", "misc/apple:1");
    let run = env.sh(&format!("img-search --registry {host} app")).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STARS"),
        "{}",
        run.stdout
    );
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("{host}/team/app"))
            && run.stdout.contains(&format!("{host}/misc/apple"))
    );
    let run = env.sh(&format!("img-search {host}/tool")).ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    let run = env
        .sh(&format!("img-search --registry {host} --limit 1 app"))
        .ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    let run = env
        .sh(&format!(
            "img-search --registry {host} --filter is-official=true app"
        ))
        .ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let run = env
        .sh(&format!("img-search --tags {host}/team/app | sort"))
        .ok();
    assert_eq!(run.stdout, "1\n2\n");
    let run = env
        .sh(&format!("img-search --tags {host}/team/nosuch"))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let run = env.sh("img-search --filter color=red x").code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let run = env
        .sh(&format!(
            "img-search --registry 127.0.0.1:{} x",
            free_port()
        ))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#![allow(clippy::unwrap_used)]

use img_tests::registry::{free_port, Auth, Registry, Setup};
use img_tests::{fixtures, need, peers, Env};

#[test]
fn searches_a_registry_catalog_and_lists_tags() {
    if !need(peers::REGISTRY) {
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
    assert!(
        lines[0].ends_with("OFFICIAL"),
        "no AUTOMATED column: {}",
        run.stdout
    );
    let run = env.sh(&format!("img-search {host}/tool")).ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    let run = env
        .sh(&format!(
            "img-search --format '{{{{.Name}}}}|{{{{.StarCount}}}}|{{{{.IsOfficial}}}}' {host}/tool"
        ))
        .ok();
    assert_eq!(run.stdout, format!("{host}/team/tool|0|\n"));
    let run = env
        .sh(&format!("img-search --format json {host}/tool"))
        .ok();
    assert_eq!(run.records()[0]["IsOfficial"], "false");
    env.sh(&format!(
        "img-search --format '{{{{.IsAutomated}}}}' {host}/tool"
    ))
    .code(1);
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

#[test]
fn follows_catalog_pages_of_the_registrys_size() {
    if !need(peers::REGISTRY) {
        return;
    }
    // A registry whose catalog pages hold two repositories: it refuses
    // img's page size (n=100), so its own is used, and the Link headers
    // are followed through the three pages of five repositories.
    let registry = Registry::start_with(
        Auth::Open,
        Setup {
            catalog_page: Some(2),
            ..Setup::default()
        },
    );
    let host = &registry.host;
    for repo in ["a/app1", "b/app2", "c/tool", "d/app3", "e/app4"] {
        registry.skopeo_push(&fixtures(), "other", &format!("{repo}:1"));
    }
    let env = Env::new();
    let run = env.sh(&format!("img-search --registry {host} app")).ok();
    let names: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want: Vec<String> = ["a/app1", "b/app2", "d/app3", "e/app4"]
        .iter()
        .map(|r| format!("{host}/{r}"))
        .collect();
    assert_eq!(names, want, "{}", run.stdout);
    // The refused first page, then three pages of two, two and one.
    assert_eq!(
        registry.requests("GET", "/v2/_catalog"),
        4,
        "{}",
        registry.log()
    );
    // --limit stops following pages once enough are found.
    let run = env
        .sh(&format!("img-search --registry {host} --limit 1 app"))
        .ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert_eq!(registry.requests("GET", "/v2/_catalog"), 4 + 2);
}

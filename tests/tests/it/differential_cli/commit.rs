//! img-commit beside docker commit: a message and a healthcheck given, and
//! a container's changes made into an image.

use super::*;

#[test]
fn commit_message_and_healthcheck_as_docker_commit() {
    if !need(&["runc"]) {
        return;
    }
    let Some(case) = Case::new("hc") else { return };
    let base = format!("{}:1", case.name("base"));
    let image = format!("{}:1", case.name("checked"));
    case.share("derived", &base);
    // (current Docker takes STOPSIGNAL as a change too, as img does;
    // Docker 20.10 refused it, so it is not compared here)
    let changes = "-c 'HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=2 CMD [\"true\"]' -c 'ENV X=1' -c 'USER 1000'";
    let theirs = case
        .docker(&format!(
            "c=$(docker create {base}) && docker commit -m 'fix it' -a me {changes} $c {image} && docker rm $c >/dev/null"
        ))
        .ok();
    let ours = case
        .img(&format!(
            "img-commit --no-layer -m 'fix it' -a me {changes} {base} {image}"
        ))
        .ok();
    // docker commit prints the new ID; img into a pipe its record (and
    // the ID on stderr), on a terminal the ID as Docker
    assert!(theirs.stdout.starts_with("sha256:") && theirs.stdout.lines().count() == 1);
    assert_eq!(ours.records().len(), 1);
    for template in [
        "{{.Comment}}|{{.Author}}",
        "{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} {{.Config.Healthcheck.StartPeriod}}",
        "{{.Config.Healthcheck.Test}} {{.Config.Healthcheck.Retries}}",
        "{{json .Config.Healthcheck}}",
        "{{.Config.User}} {{.Config.Env}}",
        "{{len .RootFS.Layers}}",
    ] {
        case.same_inspect(template, &image);
    }
    let history = "--format '{{.CreatedBy}}|{{.Comment}}'";
    let theirs = case
        .docker(&format!("docker history {history} {image}"))
        .ok();
    let ours = case.img(&format!("img-history {history} {image}")).ok();
    // the rows below the commit are the base's, equal; the commit's own
    // command is each side's (Docker: the container's; img: img-commit's)
    assert_eq!(
        ours.stdout.lines().skip(1).collect::<Vec<_>>(),
        theirs.stdout.lines().skip(1).collect::<Vec<_>>()
    );
    assert!(
        ours.stdout.lines().next().unwrap().ends_with("|fix it"),
        "{}",
        ours.stdout
    );
}

#[test]
fn commit_of_a_container_as_docker_commit() {
    if !need(&["runc"]) {
        return;
    }
    let Some(case) = Case::new("commit") else {
        return;
    };
    let base = format!("{}:1", case.name("base"));
    let image = format!("{}:2", case.name("base"));
    case.share("derived", &base);
    let work = "sh -c 'echo hi > /new.txt; rm /hello.txt; mkdir -p /d/e; chmod 0700 /d'";
    let container = case.name("c");
    let changes = "-m 'my change' -a me -c 'ENV X=1' -c 'CMD [\"sh\"]'";
    let theirs = case
        .docker(&format!(
            "docker run --name {container} --network none {base} {work} && docker commit {changes} {container} {image} && docker rm {container} >/dev/null"
        ))
        .ok();
    assert!(theirs.stdout.starts_with("sha256:"));
    let shown = case
        .img(&format!(
            "img-run --name {container} --network none {base} {work} && {}",
            on_terminal_output(&format!("img-commit {changes} {container} {image}"))
        ))
        .ok();
    // on a terminal: the new ID alone, as docker commit prints it
    assert_eq!(shown.stdout.trim(), case.env.id(&image));
    let their_tree = case.docker.rootfs(&case.env, &image);
    let our_tree = img_rootfs(&case.env, &image);
    assert_eq!(their_tree.diff(&our_tree), Vec::<String>::new());
    assert!(!our_tree.0.contains_key("hello.txt") && our_tree.0.contains_key("new.txt"));
    // the config as current Docker shows it (the container's own fields
    // that Docker 20.10 kept in `config` left out)
    let theirs = case.docker.config(&case.env, &image);
    let ours = img_config(&case.env, &image);
    assert_eq!(current_config(&ours), current_config(&theirs));
    let template =
        "{{.Comment}}|{{.Author}}|{{.Config.Cmd}}|{{.Config.Env}}|{{len .RootFS.Layers}}";
    case.same_inspect(template, &image);
    let history = "--no-trunc --format '{{.CreatedBy}}|{{.Comment}}'";
    let theirs = case
        .docker(&format!("docker history {history} {image}"))
        .ok();
    let ours = case.img(&format!("img-history {history} {image}")).ok();
    assert_eq!(
        ours.stdout, theirs.stdout,
        "the container's command made the layer"
    );
}

//! img-ls, img-inspect and img-history beside docker images, docker inspect
//! and docker history.

use super::*;

#[test]
fn images_lists_as_docker_images() {
    let Some(case) = Case::new("ls") else { return };
    let (a, b) = (case.name("a"), case.name("b"));
    case.share("base", &format!("{a}:1"));
    case.share("derived", &format!("{b}:1"));
    case.docker(&format!("docker tag {a}:1 {a}:2")).ok();
    case.img(&format!("img-tag {a}:1 {a}:2")).ok();
    let mine = format!("--filter reference='{}-*'", case.prefix);
    let same = |args: &str| {
        let theirs = case.docker(&format!("docker images {args}")).ok();
        let ours = case.img(&format!("img-ls {args}")).ok();
        assert_eq!(
            sorted_lines(&ours.stdout),
            sorted_lines(&theirs.stdout),
            "img-ls {args}"
        );
    };
    let rows =
        "--format '{{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedAt}}'";
    same(&format!("{mine} {rows}"));
    same(&format!("{mine} -q"));
    same(&format!("{mine} -q --no-trunc"));
    same(&format!("{mine} --no-trunc --format '{{{{.ID}}}}'"));
    same(&format!("{mine} --filter dangling=false {rows}"));
    same(&format!("{mine} --filter label=app=demo {rows}"));
    same(&format!("{mine} --filter label=tier {rows}"));
    same(&format!("{mine} --filter before={b}:1 {rows}"));
    same(&format!("{mine} --filter since={a}:1 {rows}"));
    same(&format!("--filter reference='{a}:2' {rows}"));
    same(&format!("{a} {rows}"));
    same(&format!("{a}:1 -q"));
    // a template of its own wins over -q
    same(&format!(
        "{mine} -q --format '{{{{.Repository}}}}:{{{{.Tag}}}}'"
    ));
    // the default table: Docker's columns; rows equal but for SIZE, which
    // img counts as stored (compressed, as Docker's containerd store
    // does) and Docker 20.10's classic store unpacked
    let theirs = case.docker(&format!("docker images {mine}")).ok();
    let ours = case.img(&format!("img-ls {mine}")).ok();
    assert_eq!(
        columns(&ours.stdout),
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(columns(&ours.stdout), columns(&theirs.stdout));
    let without_size = |table: &str| {
        let mut rows: Vec<Vec<String>> = table
            .lines()
            .skip(1)
            .map(|l| {
                let mut cells: Vec<String> = l
                    .split("   ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect();
                cells.pop();
                cells
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(without_size(&ours.stdout), without_size(&theirs.stdout));
    let table = format!("{mine} --format 'table {{{{.Repository}}}}\\t{{{{.ID}}}}'");
    let theirs = case.docker(&format!("docker images {table}")).ok();
    let ours = case.img(&format!("img-ls {table}")).ok();
    assert_eq!(columns(&ours.stdout), columns(&theirs.stdout));
    assert_eq!(ours.stdout.lines().count(), theirs.stdout.lines().count());
    // an unknown field fails, both with exit status 1
    let theirs = case.docker("docker images --format '{{.Nope}}'").code(1);
    let ours = case.img("img-ls --format '{{.Nope}}'").code(1);
    both_fail(&theirs, &ours, "template parsing error");
    // a filter Docker does not know: Docker's daemon answers 400 (exit 1);
    // img's bad input is exit status 2 (img.7)
    let theirs = case.docker("docker images --filter nope=1").code(1);
    let ours = case.img("img-ls --filter nope=1").code(2);
    assert!(theirs.stderr.contains("nope") && ours.stderr.contains("nope"));
    // `--format json` is current Docker's (Docker 20.10 prints the word
    // json): one object per row, its keys sorted
    let ours = case.img(&format!("img-ls {a}:1 --format json")).ok();
    let row = ours.records().remove(0);
    let theirs = case
        .docker(&format!("docker images {a}:1 --format '{{{{json .}}}}'"))
        .ok();
    let their_row: serde_json::Value = serde_json::from_str(theirs.stdout.trim()).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&row), keys(&their_row));
    for key in [
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "ID",
        "Repository",
        "SharedSize",
        "Tag",
        "UniqueSize",
    ] {
        assert_eq!(row[key], their_row[key], "{key}");
    }
}

#[test]
fn inspect_templates_as_docker_inspect() {
    let Some(case) = Case::new("inspect") else {
        return;
    };
    let image = format!("{}:1", case.name("d"));
    case.share("derived", &image);
    // (RepoTags is left out: other tests give the same image names of
    // their own in the shared engine)
    for template in [
        "{{.Id}}",
        "{{.ID}}",
        "{{.Created}}",
        "{{.Author}}",
        "[{{.Comment}}]",
        "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}",
        "{{.Config.Cmd}}",
        "{{.Config.Entrypoint}}",
        "{{.Config.Env}}",
        "{{.Config.Labels}}",
        "{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.StopSignal}}",
        "{{index .Config.Labels \"app\"}}",
        "[{{index .Config.Labels \"nope\"}}]",
        "{{.Config.Labels.nope}}",
        "{{.Config.Labels.app}}",
        "{{json .Config.Labels}}",
        "{{json .Config.Cmd}}",
        "{{json .Config.Entrypoint}}",
        "{{.RootFS.Type}} {{.RootFS.Layers}}",
        "{{json .RootFS}}",
        "{{len .RootFS.Layers}}",
        "{{range .RootFS.Layers}}{{.}} {{end}}",
        "{{join .Config.Env \",\"}}",
        "{{upper .Os}}",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    ] {
        case.same_inspect(template, &image);
    }
    // {{json .Config}}: current Docker (API 1.50+) prints the OCI config's
    // fields, only those set; Docker 20.10 printed every field of its
    // container.Config. Equal once 20.10's empty fields are left out.
    let theirs = case
        .docker(&format!(
            "docker image inspect -f '{{{{json .Config}}}}' {image}"
        ))
        .ok();
    let ours = case
        .img(&format!("img-inspect -f '{{{{json .Config}}}}' {image}"))
        .ok();
    let theirs: serde_json::Value = serde_json::from_str(&theirs.stdout).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
    assert_eq!(ours, img_tests::docker::without_empty(&theirs));
    // fields neither the struct nor the JSON has fail, both with status 1
    for template in ["{{.Nope}}", "{{.Config.Nope}}", "{{.ID}} {{.Id}}"] {
        let theirs = case
            .docker(&format!("docker image inspect -f '{template}' {image}"))
            .code(1);
        let ours = case
            .img(&format!("img-inspect -f '{template}' {image}"))
            .code(1);
        both_fail(&theirs, &ours, "template parsing error");
        assert_eq!(ours.stdout, theirs.stdout);
    }
    // a template that does not parse: Docker exits 64, img 2 (bad usage)
    case.docker(&format!("docker image inspect -f '{{{{.Id' {image}"))
        .code(64);
    case.img(&format!("img-inspect -f '{{{{.Id' {image}"))
        .code(2);
    // a missing image among others: both print the rest, exit 1
    let nosuch = case.name("nosuch");
    let theirs = case
        .docker(&format!(
            "docker image inspect -f '{{{{.Id}}}}' {image} {nosuch}"
        ))
        .code(1);
    let ours = case
        .img(&format!("img-inspect -f '{{{{.Id}}}}' {image} {nosuch}"))
        .code(1);
    assert_eq!(ours.stdout, theirs.stdout);
    both_fail(&theirs, &ours, &format!("No such image: {nosuch}"));
    let theirs = case
        .docker(&format!("docker image inspect {nosuch}"))
        .code(1);
    let ours = case.img(&format!("img-inspect {nosuch}")).code(1);
    assert_eq!(ours.stdout, theirs.stdout, "an empty JSON array");
}

#[test]
fn history_as_docker_history() {
    let Some(case) = Case::new("history") else {
        return;
    };
    let image = format!("{}:1", case.name("d"));
    case.share("derived", &image);
    for args in [
        "--format '{{.ID}}|{{.CreatedSince}}|{{.CreatedBy}}|{{.Comment}}'",
        "-H=false --format '{{.CreatedAt}}|{{.CreatedBy}}'",
        "--no-trunc --format '{{.ID}}|{{.CreatedBy}}'",
        "-q",
        "-q --no-trunc",
        "-q --format '{{.CreatedBy}}'",
    ] {
        let theirs = case.docker(&format!("docker history {args} {image}")).ok();
        let ours = case.img(&format!("img-history {args} {image}")).ok();
        assert_eq!(ours.stdout, theirs.stdout, "{args}");
    }
    // the table's columns are Docker's; SIZE is the layer as stored
    // (compressed) where Docker shows it unpacked (see img-history(1))
    let theirs = case.docker(&format!("docker history {image}")).ok();
    let ours = case.img(&format!("img-history {image}")).ok();
    assert_eq!(
        columns(&ours.stdout),
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    assert_eq!(columns(&ours.stdout), columns(&theirs.stdout));
    assert_eq!(ours.stdout.lines().count(), theirs.stdout.lines().count());
    let theirs = case
        .docker(&format!("docker history --format '{{{{.Nope}}}}' {image}"))
        .code(1);
    let ours = case
        .img(&format!("img-history --format '{{{{.Nope}}}}' {image}"))
        .code(1);
    both_fail(&theirs, &ours, "template parsing error");
    let nosuch = case.name("nosuch");
    let theirs = case.docker(&format!("docker history {nosuch}")).code(1);
    let ours = case.img(&format!("img-history {nosuch}")).code(1);
    both_fail(&theirs, &ours, &format!("No such image: {nosuch}"));
}

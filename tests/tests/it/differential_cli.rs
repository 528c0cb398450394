//! Docker's own engine as the reference for the programs other than
//! img-build: the same images and inputs through `docker images`,
//! `inspect`, `history`, `tag`, `rmi`, `save`, `load`, `import`, `export`,
//! `commit` and `image prune` (Debian's Docker 20.10, client and engine)
//! and through img's programs, their outputs, columns and exit codes
//! compared.
//!
//! The engine is shared by the tests of this process, which run at once:
//! every test works on names of its own (`dcli-TEST-…`), never on all of
//! the engine's images. Ages are compared with img's clock left alone
//! (`IMG_NOW` unset), as Docker's is.
//!
//! Where img differs on purpose, the test says so: exit status 2 for bad
//! usage and bad input where Docker's CLI exits 1 (or 64, 125) — img.7's
//! rule; sizes of the content as stored (compressed, as Docker's
//! containerd image store counts it) where Docker 20.10's classic store
//! counts unpacked layers; manifest digests for every image where the
//! classic store knows none for loaded ones; records into pipes where
//! Docker prints lines for people. Where Docker 20.10 differs from current
//! Docker, img follows current Docker and the test says how.

use img_tests::docker::{current_config, docker, img_config, img_rootfs, Docker};
use img_tests::{need, on_terminal_output, Env, Run};

/// One test's view of both sides: the engine, an img store, and the
/// prefix of the test's names.
struct Case {
    docker: &'static Docker,
    env: Env,
    prefix: String,
}

impl Case {
    /// A case named `name`, or `None` when Docker is missing (see `need`).
    fn new(name: &str) -> Option<Case> {
        let docker = docker()?;
        Some(Case {
            docker,
            env: Env::new(),
            prefix: format!("dcli-{name}"),
        })
    }

    /// The name `NAME` gets in this case: `dcli-TEST-NAME`.
    fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Make fixture `fixture` known as `name` on both sides, same image ID.
    fn share(&self, fixture: &str, name: &str) {
        self.docker.share(&self.env, fixture, name);
    }

    /// Run a script with Docker's client (and the real clock).
    fn docker(&self, script: &str) -> Run {
        self.docker
            .sh(&self.env, &format!("unset IMG_NOW\n{script}"))
    }

    /// Run a script with img's programs (and the real clock).
    fn img(&self, script: &str) -> Run {
        self.env.sh(&format!("unset IMG_NOW\n{script}"))
    }

    /// A root filesystem tar `NAME.tar` holding a file that names it, so
    /// that its layer is this case's alone in the shared engine.
    fn rootfs(&self, name: &str) -> String {
        let tar = format!("{name}.tar");
        self.img(&format!(
            "rm -rf r && mkdir -p r/etc r/bin && echo {name} > r/etc/name && echo hi > r/etc/motd \
             && ln -s motd r/etc/link && tar -C r -cf {tar} ."
        ))
        .ok();
        tar
    }
}

/// The lines of `text`, sorted: Docker lists the names of one image in
/// the order of a Go map, which is no order.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// The column titles of a table's header line.
fn columns(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Both failed with one line of error each, saying what `about` says.
#[track_caller]
fn both_fail(theirs: &Run, ours: &Run, about: &str) {
    assert_ne!(theirs.code, 0, "Docker succeeded: {theirs:?}");
    assert_ne!(ours.code, 0, "img succeeded: {ours:?}");
    assert!(theirs.stderr.contains(about), "Docker: {theirs:?}");
    assert!(ours.stderr.contains(about), "img: {ours:?}");
    assert_eq!(ours.stderr.lines().count(), 1, "img: {ours:?}");
}

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
        let theirs = case
            .docker(&format!("docker image inspect -f '{template}' {image}"))
            .ok();
        let ours = case
            .img(&format!("img-inspect -f '{template}' {image}"))
            .ok();
        assert_eq!(ours.stdout, theirs.stdout, "{template}");
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
        let theirs = case
            .docker(&format!("docker image inspect -f '{template}' {image}"))
            .ok();
        let ours = case
            .img(&format!("img-inspect -f '{template}' {image}"))
            .ok();
        assert_eq!(ours.stdout, theirs.stdout, "{template}");
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

#[test]
fn tag_as_docker_tag() {
    let Some(case) = Case::new("tag") else { return };
    let source = format!("{}:1", case.name("src"));
    case.share("base", &source);
    let targets = [
        case.name("t1"),
        format!("{}:v2", case.name("t2")),
        format!("localhost:5000/{}:3", case.name("t3")),
        format!("team/{}", case.name("t4")),
    ];
    for target in &targets {
        let theirs = case.docker(&format!("docker tag {source} {target}")).ok();
        // docker tag prints nothing; so does img-tag on a terminal (into a
        // pipe, it prints the new name's record for the next program)
        assert_eq!(theirs.stdout, "");
        let shown = case
            .img(&on_terminal_output(&format!("img-tag {source} {target}")))
            .ok();
        assert_eq!(shown.stdout, "", "{target}");
    }
    let list = format!(
        "--format '{{{{.Repository}}}}:{{{{.Tag}}}} {{{{.ID}}}}' --filter reference='*{p}-*' --filter reference='*/*{p}-*'",
        p = case.prefix
    );
    let theirs = case.docker(&format!("docker images {list}")).ok();
    let ours = case.img(&format!("img-ls {list}")).ok();
    assert_eq!(sorted_lines(&ours.stdout), sorted_lines(&theirs.stdout));
    assert_eq!(ours.stdout.lines().count(), 5);
    // names Docker refuses, img refuses (Docker's CLI exits 1, img 2: bad
    // input); a missing source fails with 1 on both sides
    let hex = "ab".repeat(32);
    for bad in [
        "Upper:1".to_string(),
        "a//b".to_string(),
        format!("x@sha256:{}", "0".repeat(64)),
        hex.clone(),
        "x:-bad".to_string(),
    ] {
        let theirs = case.docker(&format!("docker tag {source} '{bad}'")).code(1);
        let ours = case.img(&format!("img-tag {source} '{bad}'")).code(2);
        assert!(
            ours.stderr.starts_with("img-tag: error: ") && ours.stderr.lines().count() == 1,
            "{bad}: {ours:?}"
        );
        assert!(!theirs.stderr.is_empty());
    }
    let nosuch = case.name("nosuch");
    let theirs = case.docker(&format!("docker tag {nosuch} x:1")).code(1);
    let ours = case.img(&format!("img-tag {nosuch} x:1")).code(1);
    both_fail(&theirs, &ours, &format!("No such image: {nosuch}"));
}

#[test]
fn rmi_as_docker_rmi() {
    let Some(case) = Case::new("rmi") else { return };
    let name = case.name("i");
    let tar = case.rootfs(&name);
    // the same layer on both sides (a tar of this case's own); the image
    // IDs differ, as two imports at two times do
    case.docker(&format!("docker import {tar} {name}:1")).ok();
    case.img(&format!("img-import {tar} {name}:1 >/dev/null 2>&1"))
        .ok();
    case.docker(&format!(
        "docker tag {name}:1 {name}:2 && docker tag {name}:1 {name}-other:1"
    ))
    .ok();
    case.img(&format!(
        "img-tag {name}:1 {name}:2 >/dev/null && img-tag {name}:1 {name}-other:1 >/dev/null"
    ))
    .ok();
    let ids = |run: &Run| run.stdout.trim().to_string();
    let their_id = ids(&case
        .docker(&format!("docker image inspect -f '{{{{.Id}}}}' {name}:1"))
        .ok());
    let our_id = ids(&case
        .img(&format!("img-inspect -f '{{{{.Id}}}}' {name}:1"))
        .ok());
    let same = |docker: &str, img: &str, code: i32| {
        let theirs = case.docker(docker).code(code);
        let ours = case.img(img).code(code);
        assert_eq!(
            ours.stdout.replace(&our_id, "ID"),
            theirs.stdout.replace(&their_id, "ID"),
            "{img}"
        );
        (theirs, ours)
    };
    // a tag: untagged only
    same(
        &format!("docker rmi {name}:2"),
        &format!("img-rm {name}:2"),
        0,
    );
    // by ID, with names in two repositories: must be forced
    let (theirs, ours) = same(
        &format!("docker rmi {}", &their_id[7..19]),
        &format!("img-rm {}", &our_id[7..19]),
        1,
    );
    both_fail(
        &theirs,
        &ours,
        "(must be forced) - image is referenced in multiple repositories",
    );
    // forced: every name untagged in Docker's order, the image and its
    // layer deleted (the layer by its chain ID, the same on both sides)
    let (_, ours) = same(
        &format!("docker rmi -f {}", &their_id[7..19]),
        &format!("img-rm -f {}", &our_id[7..19]),
        0,
    );
    assert_eq!(ours.stdout.lines().count(), 4, "{}", ours.stdout);
    let nosuch = case.name("nosuch");
    let (theirs, ours) = same(
        &format!("docker rmi {nosuch}"),
        &format!("img-rm {nosuch}"),
        1,
    );
    both_fail(&theirs, &ours, &format!("No such image: {nosuch}"));
    // a malformed name: Docker's daemon exits 1, img's bad input 2
    let theirs = case.docker("docker rmi 'Bad Name'").code(1);
    let ours = case.img("img-rm 'Bad Name'").code(2);
    assert!(
        theirs.stderr.contains("must be lowercase") && ours.stderr.contains("must be lowercase")
    );
}

#[test]
fn save_and_load_as_docker() {
    let Some(case) = Case::new("save") else {
        return;
    };
    let name = format!("{}:1", case.name("d"));
    case.share("derived", &name);
    let id = case.env.id(&name);
    // Docker 20.10 saves its legacy archive; img loads it as the same image
    case.docker(&format!("docker save {name} -o docker.tar"))
        .ok();
    let loaded = case.img("img-load --root other-store -i docker.tar").ok();
    assert_eq!(loaded.stderr, format!("Loaded image: {name}\n"));
    let ours = case
        .img(&format!(
            "img-inspect --root other-store -f '{{{{.Id}}}} {{{{.RepoTags}}}}' {name}"
        ))
        .ok();
    assert_eq!(ours.stdout, format!("{id} [{name}]\n"));
    // the same image again, already named (here from img's own archive, so
    // with another manifest): no renaming, as Docker says nothing either
    let theirs = case.docker("docker load -i docker.tar").ok();
    let shown = case.img(&on_terminal_output("img-load -i docker.tar")).ok();
    assert_eq!(theirs.stdout, format!("Loaded image: {name}\n"));
    assert_eq!(shown.stdout.replace("\r\n", "\n"), theirs.stdout);
    // img's archive loads into Docker as the same image, with its name
    // (Docker::share did it); the lines for people are Docker's, on a
    // terminal on stdout
    case.img(&format!("img-save {name} -o img.tar")).ok();
    let theirs = case.docker("docker load -i img.tar").ok();
    let shown = case.img(&on_terminal_output("img-load -i img.tar")).ok();
    assert_eq!(shown.stdout.replace("\r\n", "\n"), theirs.stdout);
    // a name that moves to another image: Docker's words, the same IDs
    let base = format!("{}:1", case.name("b"));
    case.share("base", &base);
    case.docker(&format!("docker tag {base} {name}")).ok();
    case.img(&format!("img-tag {base} {name} >/dev/null")).ok();
    let theirs = case.docker("docker load -i img.tar").ok();
    let shown = case.img(&on_terminal_output("img-load -i img.tar")).ok();
    assert_eq!(shown.stdout.replace("\r\n", "\n"), theirs.stdout);
    assert!(
        theirs.stdout.contains("renaming the old one with ID"),
        "{}",
        theirs.stdout
    );
    // what cannot be saved or loaded fails on both sides
    let nosuch = case.name("nosuch");
    let theirs = case
        .docker(&format!("docker save {nosuch} -o x.tar"))
        .code(1);
    let ours = case.img(&format!("img-save {nosuch} -o x.tar")).code(1);
    both_fail(&theirs, &ours, "No such image");
    let theirs = case
        .docker(&format!("docker save {name} -o missing-dir/x.tar"))
        .code(1);
    let ours = case
        .img(&format!("img-save {name} -o missing-dir/x.tar"))
        .code(1);
    both_fail(&theirs, &ours, "missing-dir");
    // a file that is no archive: Docker exits 1, img 2 (bad input)
    case.img("echo garbage > garbage.tar").ok();
    case.docker("docker load -i garbage.tar").code(1);
    case.img("img-load -i garbage.tar").code(2);
}

#[test]
fn import_as_docker_import() {
    let Some(case) = Case::new("import") else {
        return;
    };
    let name = format!("{}:1", case.name("i"));
    let tar = case.rootfs(&case.name("i"));
    // (no WORKDIR: Docker makes that directory in every container, so it
    // would show in the container Docker exports though not in the image)
    let changes = "-c 'CMD [\"sh\"]' -c 'ENV A=1 B=\"two words\"' -c 'LABEL team=core' -c 'EXPOSE 80' -c 'USER 1000:1000' -c 'VOLUME /data'";
    let theirs = case
        .docker(&format!(
            "docker import -m 'from a tar' {changes} {tar} {name}"
        ))
        .ok();
    let ours = case
        .img(&format!(
            "img-import -q -m 'from a tar' {changes} {tar} {name}"
        ))
        .ok();
    // docker import prints the new ID; img-import -q (and on a terminal) too
    let is_id = |text: &str| text.starts_with("sha256:") && text.trim().len() == 71;
    assert!(
        is_id(&theirs.stdout) && is_id(&ours.stdout),
        "{theirs:?} {ours:?}"
    );
    // the same root filesystem and config (current Docker's: without the
    // empty fields Docker 20.10 wrote), the same layer
    let their_tree = case.docker.rootfs(&case.env, &name);
    let our_tree = img_rootfs(&case.env, &name);
    assert_eq!(their_tree.diff(&our_tree), Vec::<String>::new());
    let theirs = case.docker.config(&case.env, &name);
    let ours = img_config(&case.env, &name);
    assert_eq!(current_config(&ours), current_config(&theirs));
    assert_eq!(ours["rootfs"], theirs["rootfs"], "the same diff_id");
    // without -m: Docker's comment for a tar the client sent
    let plain = format!("{}:2", case.name("i"));
    case.docker(&format!("docker import {tar} {plain}")).ok();
    case.img(&format!("img-import {tar} {plain} 2>/dev/null"))
        .ok();
    let template = "[{{.Comment}}] {{json .Config}}";
    let theirs = case
        .docker(&format!("docker image inspect -f '{template}' {plain}"))
        .ok();
    let ours = case
        .img(&format!("img-inspect -f '{template}' {plain}"))
        .ok();
    // {{json .Config}}: Docker 20.10 prints every empty field, current
    // Docker `{}`
    assert!(
        theirs.stdout.starts_with("[Imported from -] {"),
        "{}",
        theirs.stdout
    );
    assert_eq!(ours.stdout, "[Imported from -] {}\n");
    // a change Docker does not take, and a file that is no tar
    let theirs = case
        .docker(&format!("docker import -c 'RUN true' {tar} x:1"))
        .code(1);
    let ours = case
        .img(&format!("img-import -c 'RUN true' {tar} x:1"))
        .code(2);
    let says_run = |run: &Run| {
        run.stderr
            .to_lowercase()
            .contains("run is not a valid change")
    };
    assert!(says_run(&theirs) && says_run(&ours), "{theirs:?} {ours:?}");
}

#[test]
fn export_as_docker_export() {
    let Some(case) = Case::new("export") else {
        return;
    };
    let name = format!("{}:1", case.name("d"));
    case.share("derived", &name);
    let theirs = case.docker.rootfs(&case.env, &name);
    let ours = img_rootfs(&case.env, &name);
    assert_eq!(theirs.diff(&ours), Vec::<String>::new());
    assert!(ours.0.contains_key("hello.txt") && ours.0.contains_key("bin/busybox"));
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
    let theirs = case
        .docker(&format!("docker image inspect -f '{template}' {image}"))
        .ok();
    let ours = case
        .img(&format!("img-inspect -f '{template}' {image}"))
        .ok();
    assert_eq!(ours.stdout, theirs.stdout);
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

#[test]
fn image_prune_as_docker_image_prune() {
    let Some(case) = Case::new("prune") else {
        return;
    };
    let name = format!("{}:1", case.name("p"));
    let label = format!("dcli={}", case.prefix);
    let (old_tar, new_tar) = (
        case.rootfs(&case.name("old")),
        case.rootfs(&case.name("new")),
    );
    // an image that loses its name to another: dangling on both sides,
    // with this case's label so that no other test's images are pruned
    for tar in [&old_tar, &new_tar] {
        case.docker(&format!(
            "docker import -c 'LABEL {label}' {tar} {name} >/dev/null"
        ))
        .ok();
        case.img(&format!(
            "img-import -c 'LABEL {label}' {tar} {name} >/dev/null 2>&1"
        ))
        .ok();
    }
    let dangling = |run: Run| sorted_lines(&run.stdout);
    let filter = format!("--filter label={label}");
    let their_dangling = dangling(
        case.docker(&format!(
            "docker images -q --no-trunc --filter dangling=true {filter}"
        ))
        .ok(),
    );
    let our_dangling = dangling(
        case.img(&format!(
            "img-ls -q --no-trunc --filter dangling=true {filter}"
        ))
        .ok(),
    );
    assert_eq!((their_dangling.len(), our_dangling.len()), (1, 1));
    let chain = |run: Run| run.stdout.trim().to_string();
    let old_chain = chain(
        case.img(&format!(
            "img-inspect -f '{{{{index .RootFS.Layers 0}}}}' {}",
            our_dangling[0]
        ))
        .ok(),
    );
    let theirs = case.docker(&format!("docker image prune -f {filter}")).ok();
    let ours = case.img(&format!("img-prune -f {filter}")).ok();
    // the same report but for the IDs (two imports, two times) and the
    // space, which img counts as stored and Docker unpacked
    let report = |text: &str, id: &str| {
        text.replace(id, "ID")
            .lines()
            .map(|l| {
                if l.starts_with("Total reclaimed space: ") {
                    "Total reclaimed space: N"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        report(&ours.stdout, &our_dangling[0]),
        report(&theirs.stdout, &their_dangling[0])
    );
    assert_eq!(
        report(&ours.stdout, &our_dangling[0]),
        format!("Deleted Images:\ndeleted: ID\ndeleted: {old_chain}\n\nTotal reclaimed space: N")
    );
    // -a: every image no container uses, names and all
    let theirs = case
        .docker(&format!("docker image prune -a -f {filter}"))
        .ok();
    let ours = case.img(&format!("img-prune -a -f {filter}")).ok();
    let their_id = theirs
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("deleted: "))
        .unwrap_or_default()
        .to_string();
    let our_id = ours
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("deleted: "))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        report(&ours.stdout, &our_id),
        report(&theirs.stdout, &their_id)
    );
    assert!(
        ours.stdout
            .starts_with(&format!("Deleted Images:\nuntagged: {name}\n")),
        "{}",
        ours.stdout
    );
    // nothing left: both say so
    let theirs = case
        .docker(&format!("docker image prune -a -f {filter}"))
        .ok();
    let ours = case.img(&format!("img-prune -a -f {filter}")).ok();
    assert_eq!(ours.stdout, theirs.stdout);
    // without -f Docker asks on stdout and reads stdin even from a pipe;
    // img asks only a terminal and refuses otherwise (exit 2), so that a
    // cron job never hangs or half-answers
    case.img(&format!("img-prune {filter} < /dev/null")).code(2);
}

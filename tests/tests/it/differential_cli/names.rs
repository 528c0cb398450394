//! Which names and images go: img-tag, img-rm and img-prune beside docker
//! tag, docker rmi and docker image prune.

use super::*;

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

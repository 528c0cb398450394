//! Images into and out of tar files: img-save and img-load, img-import and
//! img-export beside their docker counterparts.

use super::*;

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

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
//!
//! This file holds the two sides of a case; the tests are by topic:
//! `listing`, `names`, `commit`, `archives`.

use img_tests::docker::{current_config, docker, img_config, img_rootfs, Docker};
use img_tests::{need, on_terminal_output, Env, Run};

mod archives;
mod commit;
mod listing;
mod names;

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

    /// `docker image inspect -f TEMPLATE` and `img-inspect -f TEMPLATE` of
    /// `image` print the same.
    fn same_inspect(&self, template: &str, image: &str) {
        let theirs = self
            .docker(&format!("docker image inspect -f '{template}' {image}"))
            .ok();
        let ours = self
            .img(&format!("img-inspect -f '{template}' {image}"))
            .ok();
        assert_eq!(ours.stdout, theirs.stdout, "{template}");
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

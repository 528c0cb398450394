//! Docker's own engine as the reference: the same Dockerfile and context
//! built by `img-build` and by `docker build` (BuildKit, and the classic
//! builder where it decides the same things) must give the same root
//! filesystem and the same config, history texts included.
//!
//! The engine is Docker 20.10 (Debian's `docker.io`). img follows current
//! Docker where the two differ: such a case says what 20.10 does and turns
//! its result into current Docker's before comparing (`current`). Cases
//! that 20.10's built-in Dockerfile frontend cannot read (heredocs, `COPY
//! --link`, `RUN --network`) are compared with the Dockerfile 20.10 needs
//! for the same result (`docker_dockerfile`). The cases follow the
//! Dockerfile reference section by section: FROM and RUN here, the config
//! instructions in `differential_config.rs`, COPY, ADD and `.dockerignore`
//! in `differential_files.rs`, stages and parsing in
//! `differential_stages.rs`; the cases of the other programs (images,
//! inspect, history, …) are elsewhere.

use img_tests::docker::{assert_same_image_as, assert_same_image_classic, docker, Tree};
use img_tests::Env;
use serde_json::{json, Value};

pub(crate) type Current = Box<dyn Fn(&mut Tree, &mut Value)>;

/// One Dockerfile case: a context, flags for both builders, and what is
/// known to differ between Docker 20.10 and current Docker.
pub(crate) struct Case {
    name: &'static str,
    dockerfile: String,
    /// What Docker 20.10 builds instead, for the same result.
    docker_dockerfile: Option<String>,
    files: Vec<(String, String)>,
    /// A script run in the context directory after the files are written
    /// (links, modes, archives).
    setup: String,
    /// Flags for both builders (`--build-arg`, `--target`, `--secret`).
    flags: String,
    /// Other names the busybox fixture is known by, on both sides.
    shares: Vec<&'static str>,
    /// Images built first on both sides (name, Dockerfile).
    parents: Vec<(&'static str, String)>,
    /// Also compare with the classic builder.
    classic: bool,
    current: Option<Current>,
}

pub(crate) fn case(name: &'static str, dockerfile: &str) -> Case {
    Case {
        name,
        dockerfile: dockerfile.to_string(),
        docker_dockerfile: None,
        files: Vec::new(),
        setup: String::new(),
        flags: String::new(),
        shares: Vec::new(),
        parents: Vec::new(),
        classic: false,
        current: None,
    }
}

impl Case {
    pub(crate) fn file(mut self, path: &str, content: &str) -> Case {
        self.files.push((path.to_string(), content.to_string()));
        self
    }

    pub(crate) fn setup(mut self, script: &str) -> Case {
        self.setup = script.to_string();
        self
    }

    pub(crate) fn flags(mut self, flags: &str) -> Case {
        self.flags = flags.to_string();
        self
    }

    pub(crate) fn share(mut self, name: &'static str) -> Case {
        self.shares.push(name);
        self
    }

    pub(crate) fn parent(mut self, name: &'static str, dockerfile: &str) -> Case {
        self.parents.push((name, dockerfile.to_string()));
        self
    }

    pub(crate) fn classic(mut self) -> Case {
        self.classic = true;
        self
    }

    /// Docker 20.10 cannot read the Dockerfile; `dockerfile` gives it the
    /// same result.
    pub(crate) fn docker_dockerfile(mut self, dockerfile: &str) -> Case {
        self.docker_dockerfile = Some(dockerfile.to_string());
        self
    }

    /// Turn what Docker 20.10 made into what current Docker makes.
    pub(crate) fn current(mut self, change: impl Fn(&mut Tree, &mut Value) + 'static) -> Case {
        self.current = Some(Box::new(change));
        self
    }

    /// The context directory `ctx`, the fixtures shared, the parents built.
    fn prepare(&self, docker: &img_tests::docker::Docker) -> Env {
        let env = Env::new();
        docker.share(&env, "base", "busybox:latest");
        for name in &self.shares {
            docker.share(&env, "base", name);
        }
        let write = |path: &str, content: &str| {
            let full = env.path(&format!("ctx/{path}"));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        };
        write("Dockerfile", &self.dockerfile);
        if let Some(theirs) = &self.docker_dockerfile {
            std::fs::create_dir_all(env.path("docker")).unwrap();
            std::fs::write(env.path("docker/Dockerfile"), theirs).unwrap();
        }
        for (path, content) in &self.files {
            write(path, content);
        }
        if !self.setup.is_empty() {
            env.sh(&format!("cd ctx\n{}", self.setup)).ok();
        }
        for (name, dockerfile) in &self.parents {
            std::fs::create_dir_all(env.path(name)).unwrap();
            std::fs::write(env.path(&format!("{name}/Dockerfile")), dockerfile).unwrap();
            env.sh(&format!("img-build -q -t {name} {name}")).ok();
            docker
                .sh(
                    &env,
                    &format!("DOCKER_BUILDKIT=1 docker build -q --network none -t {name} {name}"),
                )
                .ok();
        }
        env
    }

    fn docker_file_flag(&self) -> &'static str {
        match self.docker_dockerfile {
            Some(_) => "-f docker/Dockerfile",
            None => "",
        }
    }

    /// Build with both, compare.
    #[track_caller]
    pub(crate) fn same(self) {
        let Some(docker) = docker() else { return };
        let env = self.prepare(docker);
        let (name, flags) = (self.name, &self.flags);
        env.sh(&format!("img-build -q -t {name} {flags} ctx")).ok();
        docker
            .sh(
                &env,
                &format!(
                    "DOCKER_BUILDKIT=1 docker build -q --network none -t {name} {flags} {} ctx",
                    self.docker_file_flag()
                ),
            )
            .ok();
        let current = self.current.unwrap_or_else(|| Box::new(|_, _| {}));
        assert_same_image_as(docker, &env, name, &current);
        if self.classic {
            let classic = format!("{name}-classic");
            docker
                .sh(
                    &env,
                    &format!(
                        "DOCKER_BUILDKIT=0 docker build -q --network none -t {classic} {flags} ctx"
                    ),
                )
                .ok();
            assert_same_image_classic(docker, &env, &classic, name);
        }
        env.check_store();
    }

    /// Both builders refuse the build: img with a message holding
    /// `img_says`, Docker with one holding `docker_says`. img names
    /// nothing.
    #[track_caller]
    pub(crate) fn fails(self, img_says: &str, docker_says: &str) {
        let Some(docker) = docker() else { return };
        let env = self.prepare(docker);
        let (name, flags) = (self.name, &self.flags);
        let ours = env.sh(&format!("img-build -q -t {name} {flags} ctx"));
        assert_ne!(ours.code, 0, "img-build built what Docker refuses");
        assert!(
            ours.stderr.contains(img_says),
            "img-build's error does not say {img_says:?}:\n{}",
            ours.stderr
        );
        let theirs = docker.sh(
            &env,
            &format!(
                "DOCKER_BUILDKIT=1 docker build -q --network none -t {name} {flags} {} ctx",
                self.docker_file_flag()
            ),
        );
        assert_ne!(theirs.code, 0, "Docker built it:\n{}", theirs.stderr);
        assert!(
            theirs.stderr.contains(docker_says),
            "Docker's error does not say {docker_says:?}:\n{}",
            theirs.stderr
        );
        let named = env.sh(&format!("img-inspect {name}"));
        assert_ne!(named.code, 0, "a failed build named {name}");
        env.check_store();
    }
}

/// Replace the `created_by` of the history entry that has `old`.
pub(crate) fn history_text(config: &mut Value, old: &str, new: &str) {
    let history = config["history"].as_array_mut().unwrap();
    let entry = history
        .iter_mut()
        .find(|h| h["created_by"] == json!(old))
        .unwrap_or_else(|| panic!("no history entry {old:?}"));
    entry["created_by"] = json!(new);
}

/// Docker 20.10 leaves in the layer the directories it made as mount
/// points for `RUN --mount`; current BuildKit removes the empty ones it
/// made (its mount stubs cleaner, recursive since 0.11), as img does.
pub(crate) fn mount_points_removed(tree: &mut Tree, paths: &[&str]) {
    for path in paths {
        assert!(tree.0.remove(*path).is_some(), "Docker made no /{path}");
    }
}

/// Docker 20.10 writes an ARG's history as written (`ARG V`, `ARG
/// V=default`); current BuildKit writes the value the argument took
/// (given, default or global): `ARG V=given`.
pub(crate) fn arg_took(config: &mut Value, written: &str, took: &str) {
    history_text(config, &format!("ARG {written}"), &format!("ARG {took}"));
}

// FROM

#[test]
fn from_an_image_with_cmd_env_and_workdir() {
    case(
        "diff-basic",
        "FROM busybox\nENV A=1 B=\"two words\"\nWORKDIR /srv\nCOPY f.txt ./\nRUN echo $A > a.txt\nCMD [\"cat\", \"a.txt\"]\n",
    )
    .file("f.txt", "hello\n")
    .classic()
    .same();
}

#[test]
fn from_scratch_gets_the_default_path_and_workdir() {
    case("diff-scratch", "FROM scratch\nCOPY f.txt /\n")
        .file("f.txt", "alone\n")
        .classic()
        .same();
}

#[test]
fn from_scratch_with_nothing_else() {
    case(
        "diff-scratch-label",
        "FROM scratch\nLABEL only=config\nCOPY f.txt /x/\n",
    )
    .file("f.txt", "x\n")
    .same();
}

#[test]
fn from_a_global_arg() {
    case(
        "diff-from-arg",
        "ARG BASE=nothing\nFROM $BASE\nRUN echo $BASE > /base\n",
    )
    .flags("--build-arg BASE=busybox")
    .same();
}

#[test]
fn from_a_global_arg_redeclared_in_the_stage() {
    case(
        "diff-from-arg-stage",
        "ARG BASE=busybox\nARG V=1\nFROM ${BASE}\nARG V\nARG BASE\nRUN echo $V $BASE > /v\n",
    )
    .current(|_, config| {
        arg_took(config, "V", "V=1");
        arg_took(config, "BASE", "BASE=busybox");
    })
    .same();
}

#[test]
fn from_zero_is_an_image_not_stage_zero() {
    case(
        "diff-from-zero",
        "FROM busybox AS first\nRUN echo first > /marker\nFROM 0\nRUN ls / > /listing\n",
    )
    .share("0:latest")
    .same();
}

#[test]
fn from_a_stage_by_name_any_case() {
    case(
        "diff-from-stage",
        "FROM busybox AS Builder\nRUN echo built > /artifact\nFROM builder\nRUN cat /artifact > /copy\n",
    )
    .same();
}

#[test]
fn from_with_the_build_platform() {
    case(
        "diff-from-platform",
        "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nARG BUILDPLATFORM\nRUN echo $TARGETARCH $BUILDPLATFORM > /arch\n",
    )
    .current(|_, config| {
        arg_took(config, "TARGETARCH", "TARGETARCH=amd64");
        arg_took(config, "BUILDPLATFORM", "BUILDPLATFORM=linux/amd64");
    })
    .same();
}

// RUN

#[test]
fn run_shell_and_exec_forms() {
    case(
        "diff-run-forms",
        "FROM busybox\nRUN echo shell > /shell\nRUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\nRUN echo one \\\n  two > /continued\n",
    )
    .classic()
    .same();
}

#[test]
fn run_sees_build_args_and_env() {
    case(
        "diff-run-args",
        "FROM busybox\nARG A=1\nARG B\nARG C=3\nENV C=env\nRUN echo $A $B $C > /seen\n",
    )
    .flags("--build-arg B=given --build-arg UNUSED=x")
    .current(|_, config| arg_took(config, "B", "B=given"))
    .same();
}

#[test]
fn run_deletes_and_replaces_files() {
    case(
        "diff-run-delete",
        "FROM busybox\nRUN rm /etc/passwd && mkdir -p /d/e && echo x > /d/e/f\nRUN rm -r /d && mkdir /d && echo y > /d/g\n",
    )
    .classic()
    .same();
}

#[test]
fn run_that_changes_nothing_still_makes_a_layer() {
    case(
        "diff-run-nothing",
        "FROM busybox\nRUN true\nRUN echo nothing > /dev/null\n",
    )
    .same();
}

#[test]
fn run_modes_owners_links_and_special_files() {
    case(
        "diff-run-meta",
        "FROM busybox\nRUN mkdir /m && echo s > /m/setuid && chmod 4755 /m/setuid && chmod 1777 /m && ln -s /m/setuid /m/link && ln /m/setuid /m/hard && chown 12:34 /m/link /m/hard && mkfifo /m/fifo\n",
    )
    .same();
}

#[test]
fn run_as_a_user() {
    case(
        "diff-run-user",
        "FROM busybox\nRUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' > /etc/group && mkdir -p /home/app && chown app:app /home/app\nUSER app\nRUN touch /home/app/mine && id > /home/app/id\n",
    )
    .same();
}

#[test]
fn run_mount_bind_from_the_context() {
    case(
        "diff-mount-bind",
        "FROM busybox\nRUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /copied\nRUN --mount=type=bind,source=sub,target=/sub,rw echo changed > /sub/x && ls /sub > /listed\n",
    )
    .file("data.txt", "data\n")
    .file("sub/a", "a\n")
    .current(|tree, _| mount_points_removed(tree, &["ctx", "sub"]))
    .same();
}

#[test]
fn run_mount_bind_from_a_stage_and_an_image() {
    case(
        "diff-mount-from",
        "FROM busybox AS stage\nRUN echo staged > /made\nFROM busybox\nRUN --mount=type=bind,from=stage,source=/made,target=/m cat /m > /from-stage\nRUN --mount=type=bind,from=busybox,source=/etc,target=/e cat /e/passwd > /from-image\n",
    )
    .current(|tree, _| mount_points_removed(tree, &["e"]))
    .same();
}

#[test]
fn run_mount_cache_and_tmpfs() {
    case(
        "diff-mount-cache",
        "FROM busybox\nRUN --mount=type=cache,target=/var/cache/x echo kept > /var/cache/x/f && ls /var/cache > /listing\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch > /tmpfs\n",
    )
    .current(|tree, _| mount_points_removed(tree, &["scratch", "var/cache/x", "var/cache", "var"]))
    .same();
}

#[test]
fn run_mount_secret() {
    case(
        "diff-mount-secret",
        "FROM busybox\nRUN --mount=type=secret,id=token wc -c /run/secrets/token > /length\nRUN --mount=type=secret,id=token,target=/t cat /t | wc -c > /length2\n",
    )
    .setup("printf 'sh-h' > ../token.txt")
    .flags("--secret id=token,src=token.txt")
    .current(|tree, _| mount_points_removed(tree, &["run/secrets", "run"]))
    .same();
}

#[test]
fn run_network_none() {
    case(
        "diff-run-network",
        "FROM busybox\nRUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /interfaces\n",
    )
    // 20.10's frontend does not know --network (Dockerfile 1.3); the
    // build runs with --network none, which is what the flag asks.
    .docker_dockerfile(
        "FROM busybox\nRUN cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /interfaces\n",
    )
    .same();
}

#[test]
fn run_heredoc_as_script() {
    case(
        "diff-run-heredoc",
        "FROM busybox\nRUN <<EOF\necho one > /one\necho two > /two\nEOF\n",
    )
    // Dockerfile 1.4 heredocs: 20.10 cannot read them. Current BuildKit
    // runs the body as the shell's script, as this RUN does.
    .docker_dockerfile("FROM busybox\nRUN echo one > /one && echo two > /two\n")
    .current(|_, config| {
        history_text(
            config,
            "RUN /bin/sh -c echo one > /one && echo two > /two # buildkit",
            "RUN /bin/sh -c echo one > /one\necho two > /two\n # buildkit",
        );
    })
    .same();
}

#[test]
fn run_heredoc_with_an_interpreter_line_runs_as_a_program() {
    case(
        "diff-run-heredoc-shebang",
        "FROM busybox\nRUN <<EOF\n#!/bin/sh\necho \"$0\" > /zero\nEOF\n",
    )
    // Current BuildKit writes the body to /dev/pipes/EOF and runs that.
    .docker_dockerfile("FROM busybox\nRUN echo /dev/pipes/EOF > /zero\n")
    .current(|_, config| {
        history_text(
            config,
            "RUN /bin/sh -c echo /dev/pipes/EOF > /zero # buildkit",
            "RUN /bin/sh -c /dev/pipes/EOF # buildkit",
        );
    })
    .same();
}

#[test]
fn run_heredoc_fed_to_a_command() {
    case(
        "diff-run-heredoc-cat",
        "FROM busybox\nRUN cat > /greeting <<EOT\nhello $USER\nEOT\n",
    )
    .docker_dockerfile("FROM busybox\nRUN printf 'hello \\n' > /greeting\n")
    .current(|_, config| {
        history_text(
            config,
            "RUN /bin/sh -c printf 'hello \\n' > /greeting # buildkit",
            "RUN /bin/sh -c cat > /greeting <<EOT\nhello $USER\nEOT # buildkit",
        );
    })
    .same();
}

//! img-build: Dockerfiles built as `docker build` builds them, RUN through
//! the real runc, the results read by skopeo and umoci.

use img_tests::registry::Registry;
use img_tests::{need, Env};
use serde_json::Value;

const PEERS: &[&str] = &["runc", "skopeo", "umoci"];

/// A store with the busybox fixture as `base`, and a context directory
/// `ctx` holding `files` (path, content) and the Dockerfile.
fn ready(dockerfile: &str, files: &[(&str, &str)]) -> Option<Env> {
    if !need(PEERS) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "base");
    env.write("ctx/Dockerfile", dockerfile);
    for (path, content) in files {
        env.write(&format!("ctx/{path}"), content);
    }
    Some(env)
}

fn config(env: &Env, image: &str) -> Value {
    let run = env
        .sh(&format!("img-inspect -f '{{{{json .Config}}}}' {image}"))
        .ok();
    serde_json::from_str(run.stdout.trim()).unwrap()
}

fn in_image(env: &Env, image: &str, script: &str) -> String {
    env.sh(&format!("img-run --rm {image} sh -c '{script}'"))
        .ok()
        .stdout
}

#[test]
fn every_instruction_does_what_dockers_does() {
    let dockerfile = r#"# syntax=docker/dockerfile:1
ARG BASE=base
FROM ${BASE} AS final
ARG VERSION=1.0
ENV APP_HOME=/srv/app \
    MODE="two words"
LABEL org.example.version=$VERSION other="x y"
WORKDIR $APP_HOME
COPY app.txt ./
COPY --chown=1000:1000 --chmod=0640 secret.txt /etc/
COPY dir /data/
ADD bundle.tar.gz /opt/
RUN echo "$VERSION $MODE" > version.txt && busybox stat -c '%u:%g %a' /etc/secret.txt > owner.txt
RUN ["busybox", "sh", "-c", "echo exec form > exec.txt"]
RUN --network=none busybox ip -o link | busybox wc -l > links.txt
RUN <<EOF
echo from heredoc > heredoc.txt
EOF
COPY <<EOT /etc/motd
welcome to $APP_HOME
EOT
EXPOSE 80/tcp 53/udp
VOLUME /var/data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD busybox true
USER 1000:1000
ENTRYPOINT ["busybox"]
CMD ["cat", "version.txt"]
"#;
    let Some(env) = ready(
        dockerfile,
        &[
            ("app.txt", "app\n"),
            ("secret.txt", "s3cret\n"),
            ("dir/a.txt", "a\n"),
            ("dir/sub/b.txt", "b\n"),
        ],
    ) else {
        return;
    };
    env.sh("mkdir -p b/pkg && echo packed > b/pkg/file && tar -C b -czf ctx/bundle.tar.gz pkg")
        .ok();
    let run = env
        .sh("img-build -t app:1 --build-arg VERSION=2.5 ctx")
        .ok();
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/app:1"
    );
    assert!(
        run.stderr.contains("Step 1/21 : FROM base AS final"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Successfully tagged app:1"),
        "{}",
        run.stderr
    );
    let c = config(&env, "app:1");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Entrypoint"], serde_json::json!(["busybox"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat", "version.txt"]));
    assert_eq!(c["Labels"]["org.example.version"], "2.5");
    assert_eq!(c["Labels"]["other"], "x y");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert!(c["ExposedPorts"].get("80/tcp").is_some() && c["ExposedPorts"].get("53/udp").is_some());
    assert!(c["Volumes"].get("/var/data").is_some());
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "busybox true"])
    );
    let env_list: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env_list.contains(&"APP_HOME=/srv/app") && env_list.contains(&"MODE=two words"));
    assert!(
        !env_list.iter().any(|e| e.starts_with("VERSION=")),
        "ARGs stay out of the config"
    );
    // The image runs its ENTRYPOINT and CMD, as the build left it.
    assert_eq!(env.sh("img-run --rm app:1").ok().stdout, "2.5 two words\n");
    let files = env
        .sh("img-run --rm -u 0 app:1 sh -c 'cat owner.txt exec.txt links.txt heredoc.txt app.txt /data/a.txt /data/sub/b.txt /opt/pkg/file /etc/motd; stat -c %a /etc/secret.txt'")
        .ok();
    assert_eq!(
        files.stdout,
        "1000:1000 640\nexec form\n1\nfrom heredoc\napp\na\nb\npacked\nwelcome to /srv/app\n640\n"
    );
    let history = env
        .sh("img-history --no-trunc --format '{{.CreatedBy}}' app:1")
        .ok();
    assert!(
        history
            .stdout
            .contains("RUN |1 VERSION=2.5 /bin/sh -c echo \"$VERSION $MODE\""),
        "{}",
        history.stdout
    );
    // Other tools read the image as it is.
    env.sh("umoci unpack --image \"$STORE:docker.io/library/app:1\" out >/dev/null")
        .ok();
    assert_eq!(
        std::fs::read_to_string(env.path("out/rootfs/srv/app/version.txt")).unwrap(),
        "2.5 two words\n"
    );
    env.check_store();
}

#[test]
fn steps_are_cached_until_what_they_read_changes() {
    let dockerfile = "FROM base\nCOPY a.txt /a.txt\nARG N=1\nRUN echo $N > /n.txt\nCMD [\"sh\"]\n";
    let Some(env) = ready(dockerfile, &[("a.txt", "one\n")]) else {
        return;
    };
    let first = env.sh("img-build -t c:1 ctx").ok();
    assert!(!first.stderr.contains("Using cache"), "{}", first.stderr);
    let id = env.id("c:1");
    // Everything cached: the same image again.
    let again = env.sh("img-build -t c:2 ctx").ok();
    assert_eq!(
        again.stderr.matches("Using cache").count(),
        4,
        "{}",
        again.stderr
    );
    assert_eq!(env.id("c:2"), id);
    // A new build argument: the ARG (whose history shows the value) and
    // what follows are made again, the COPY before it is not.
    let arg = env.sh("img-build -t c:3 --build-arg N=2 ctx").ok();
    assert_eq!(
        arg.stderr.matches("Using cache").count(),
        1,
        "{}",
        arg.stderr
    );
    assert_eq!(in_image(&env, "c:3", "cat /n.txt"), "2\n");
    // A changed file (not a changed time): COPY and what follows.
    env.sh("touch -d 2001-01-01 ctx/a.txt").ok();
    let touched = env.sh("img-build -t c:4 ctx").ok();
    assert_eq!(
        touched.stderr.matches("Using cache").count(),
        4,
        "{}",
        touched.stderr
    );
    env.write("ctx/a.txt", "two\n");
    let changed = env.sh("img-build -t c:5 ctx").ok();
    assert_eq!(
        changed.stderr.matches("Using cache").count(),
        0,
        "{}",
        changed.stderr
    );
    assert_eq!(in_image(&env, "c:5", "cat /a.txt"), "two\n");
    let fresh = env.sh("img-build --no-cache -t c:6 ctx").ok();
    assert!(!fresh.stderr.contains("Using cache"));
    assert_ne!(env.id("c:6"), env.id("c:5"));
    env.check_store();
}

#[test]
fn stages_are_built_only_when_the_target_needs_them() {
    let dockerfile = r#"FROM base AS builder
RUN echo built > /artifact
FROM base AS broken
RUN exit 1
FROM base
COPY --from=builder /artifact /from-builder
COPY --from=0 /artifact /from-index
"#;
    let Some(env) = ready(dockerfile, &[]) else {
        return;
    };
    let run = env.sh("img-build -t multi:1 ctx").ok();
    assert!(
        !run.stderr.contains("RUN exit 1"),
        "the unused stage ran: {}",
        run.stderr
    );
    assert_eq!(
        in_image(&env, "multi:1", "cat /from-builder /from-index"),
        "built\nbuilt\n"
    );
    let layers = env.sh("img-layer ls multi:1 | tail -n +2 | wc -l").ok();
    assert_eq!(layers.stdout.trim(), "3", "the base and two COPY layers");
    env.sh("img-build --target builder -t multi:builder ctx")
        .ok();
    assert_eq!(in_image(&env, "multi:builder", "cat /artifact"), "built\n");
    // A stage named through a variable is refused before anything is
    // built, with BuildKit's hint.
    env.write("ctx/Dockerfile",
        "FROM base AS maker\nRUN echo made > /made\nFROM base\nARG SRC=maker\nCOPY --from=$SRC /made /made\n",
    );
    let refused = env.sh("img-build -t multi:arg ctx").code(2);
    assert!(
        refused.stderr.contains(
            "Dockerfile:5: COPY --from=$SRC: variable expansion is not supported for --from, \
             define a new stage with FROM using ARG from global scope as a workaround"
        ) && !refused.stderr.contains("RUN echo made"),
        "{}",
        refused.stderr
    );
    env.write("ctx/Dockerfile", dockerfile);
    let failed = env.sh("img-build --target broken ctx").code(1);
    assert!(
        failed.stderr.lines().last().unwrap().contains(
            "Dockerfile:4: RUN: the command '/bin/sh -c exit 1' returned a non-zero code: 1"
        ),
        "{}",
        failed.stderr
    );
}

#[test]
fn dockerignore_keeps_files_out_of_the_context() {
    let dockerfile = "FROM base\nCOPY . /ctx/\n";
    let Some(env) = ready(
        dockerfile,
        &[
            (
                ".dockerignore",
                "# build output\n*.log\nsecret/\n!keep.log\n",
            ),
            ("main.c", "int main;\n"),
            ("debug.log", "noise\n"),
            ("keep.log", "kept\n"),
            ("secret/key", "k\n"),
        ],
    ) else {
        return;
    };
    env.sh("img-build -t ig:1 ctx").ok();
    let listed = in_image(
        &env,
        "ig:1",
        "cd /ctx && busybox find . -type f | busybox sort",
    );
    assert_eq!(
        listed,
        "./.dockerignore\n./Dockerfile\n./keep.log\n./main.c\n"
    );
    let missing = env
        .sh("printf 'FROM base\\nCOPY debug.log /\\n' > ctx/Dockerfile && img-build ctx")
        .code(1);
    assert!(missing.stderr.contains("debug.log"), "{}", missing.stderr);
}

#[test]
fn failures_name_the_line_and_name_nothing() {
    let Some(env) = ready("FROM base\nRUNN echo\n", &[]) else {
        return;
    };
    let before = env.index_bytes();
    let run = env.sh("img-build -t bad:1 ctx").code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("Dockerfile:2"), "{}", run.stderr);
    env.write(
        "ctx/Dockerfile",
        "FROM base\nRUN echo partial > /p && exit 3\n",
    );
    let run = env.sh("img-build -t bad:1 ctx").code(1);
    assert!(
        run.stderr.contains("returned a non-zero code: 3"),
        "{}",
        run.stderr
    );
    env.write("ctx/Dockerfile", "FROM base\nRUN --mount=type=ssh true\n");
    let run = env.sh("img-build -t bad:1 ctx").code(2);
    assert!(
        run.stderr.contains("type=ssh is not supported"),
        "{}",
        run.stderr
    );
    env.write("ctx/Dockerfile", "FROM base\nCOPY nothing-here /\n");
    env.sh("img-build -t bad:1 ctx").code(1);
    env.write("ctx/Dockerfile", "FROM no-such-image:1\n");
    let run = env.sh("img-build -t bad:1 ctx").code(1);
    assert!(run.stderr.contains("no-such-image"), "{}", run.stderr);
    env.sh("img-build -t bad:1 no-such-dir").code(2);
    assert_eq!(env.index_bytes(), before, "a failed build names nothing");
    env.check_store();
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let Some(env) = ready(
        "FROM base\nONBUILD RUN echo triggered > /onbuild.txt\n",
        &[],
    ) else {
        return;
    };
    env.sh("img-build -t parent:1 ctx").ok();
    assert!(config(&env, "parent:1")["OnBuild"].is_array());
    env.write("ctx/Dockerfile", "FROM parent:1\nRUN cat /onbuild.txt\n");
    let run = env.sh("img-build -t child:1 ctx").ok();
    assert!(run.stderr.contains("triggered"), "{}", run.stderr);
    let child = config(&env, "child:1");
    assert!(
        child["OnBuild"].as_array().is_none_or(Vec::is_empty),
        "{child}"
    );
}

#[test]
fn a_base_from_a_registry_and_a_dockerfile_from_stdin() {
    if !need(&["runc", "skopeo", "docker-registry"]) {
        return;
    }
    let registry = Registry::open();
    registry.skopeo_push(&img_tests::fixtures(), "base", "test/base:1");
    let env = Env::new();
    let dockerfile = format!("FROM {}/test/base:1\nRUN echo remote > /r\n", registry.host);
    let run = env
        .sh_with_stdin("img-build -t fromreg:1 -", Some(dockerfile.as_bytes()))
        .ok();
    assert!(
        run.stderr.contains("Unable to find image"),
        "{}",
        run.stderr
    );
    assert_eq!(in_image(&env, "fromreg:1", "cat /r"), "remote\n");
    let run = env
        .sh_with_stdin("img-build -", Some(b"FROM scratch\nCOPY x /\n"))
        .code(2);
    assert!(run.stderr.contains("no build context"), "{}", run.stderr);
    env.check_store();
}

/// `tar -c . | img-build -`: the context as a tar on stdin (gzip too),
/// its Dockerfile inside it (or -f inside it), its .dockerignore honoured.
#[test]
fn a_context_tar_on_stdin() {
    let Some(env) = ready(
        "FROM base\nCOPY . /ctx/\n",
        &[
            ("hello.txt", "from the tar\n"),
            (".dockerignore", "*.log\n"),
            ("noise.log", "x\n"),
            ("alt/Other", "FROM base\nCOPY hello.txt /other.txt\n"),
        ],
    ) else {
        return;
    };
    env.sh("tar -C ctx -c . | img-build -t tarctx:1 -").ok();
    assert_eq!(
        in_image(
            &env,
            "tarctx:1",
            "busybox cat /ctx/hello.txt; busybox ls -A /ctx"
        ),
        "from the tar\n.dockerignore\nDockerfile\nalt\nhello.txt\n"
    );
    env.sh("tar -C ctx -cz . | img-build -t tarctx:2 -f alt/Other -")
        .ok();
    assert_eq!(
        in_image(&env, "tarctx:2", "busybox cat /other.txt"),
        "from the tar\n"
    );
    let run = env.sh("tar -C ctx -c hello.txt | img-build -").code(2);
    assert!(run.stderr.contains("holds no Dockerfile"), "{}", run.stderr);
    env.check_store();
}

/// After a RUN step, with no container running, a signal still ends
/// img-build as `docker build` ends: status 1, `context canceled` (here
/// while an ADD waits for a server that never answers, which no cancel
/// flag reaches: img-build is ended after a grace of seconds).
#[test]
fn signals_end_the_build_between_containers() {
    let Some(env) = ready("FROM base\n", &[]) else {
        return;
    };
    let script = r#"python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)' > port &
server=$!
wait_for 30 'test -s port'
printf 'FROM base\nRUN :\nADD http://127.0.0.1:%s/never /never\n' "$(cat port)" > ctx/Dockerfile
# --foreground: timeout passes the signal on once, not to its process group
# too (a second signal would end img-build at once).
timeout --foreground 20 img-build ctx 2> err &
build=$!
wait_for 60 "grep -q 'Step 3/3' err"
kill -TERM $build; wait $build; code=$?
kill $server; echo $code; cat err >&2"#;
    let run = env.sh(script).ok();
    assert_eq!(
        run.stdout, "1\n",
        "img-build must end on SIGTERM (124: it ignored it): {}",
        run.stderr
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("context canceled") && last.contains("SIGTERM"),
        "{}",
        run.stderr
    );
}

/// RUN --mount as BuildKit mounts: a cache that outlives the build, binds
/// of the context (read-only, or with writes thrown away), tmpfs, and
/// secrets that never reach the image; none of their mount points stays
/// in the layers.
#[test]
fn run_mounts_bind_cache_tmpfs_and_secrets() {
    let dockerfile = r#"FROM base
RUN --mount=type=cache,target=/cache,id=counter sh -c 'echo $(( $(busybox cat /cache/n 2>/dev/null || echo 0) + 1 )) > /cache/n; busybox cp /cache/n /seen'
RUN --mount=type=bind,source=data,target=/data busybox cat /data/file > /from-bind
RUN --mount=type=bind,target=/ctx,rw sh -c 'echo scratch > /ctx/new && busybox cat /ctx/data/file > /rw-bind'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/t'
RUN --mount=type=secret,id=token,required busybox cp /run/secrets/token /tmp/copy && busybox rm /tmp/copy && echo read > /secret-read
RUN --mount=type=secret,id=token,env=TOKEN sh -c 'printf %s "$TOKEN" | busybox wc -c > /secret-env'
"#;
    let Some(env) = ready(dockerfile, &[("data/file", "bound\n")]) else {
        return;
    };
    env.sh("printf s3cret > token").ok();
    env.sh("img-build -t m:1 --secret id=token,src=token ctx")
        .ok();
    assert_eq!(
        in_image(&env, "m:1", "busybox cat /seen /from-bind /rw-bind /secret-read /secret-env; busybox ls /"),
        // dev, proc and sys are img-run's mount points, not the image's.
        "1\nbound\nbound\nread\n6\nbin\ndev\netc\nfrom-bind\nproc\nrw-bind\nsecret-env\nsecret-read\nseen\nsys\ntmp\n"
    );
    assert!(
        !env.path("ctx/new").exists(),
        "a rw bind's writes are thrown away"
    );
    // Each place the secret could reach is written out first (so a failure
    // of img-export or img-history fails here), then searched.
    let leaked = env
        .sh(
            "set -e; img-export -o fs.tar m:1; img-history --no-trunc m:1 > history
             cat $STORE/.img/build-cache/*.json > cache
             test $(stat -c %s fs.tar) -gt 100000; grep -q 'secret-read' history; test -s cache
             cat fs.tar history cache | grep -ac s3cret || test $? = 1",
        )
        .ok();
    assert_eq!(
        leaked.stdout, "0\n",
        "the secret reached the image, its history or the cache"
    );
    // The cache mount outlives the build; a changed bound file reruns the step.
    env.sh("img-build --no-cache -t m:2 --secret id=token,src=token ctx")
        .ok();
    assert_eq!(in_image(&env, "m:2", "busybox cat /seen"), "2\n");
    env.write("ctx/data/file", "changed\n");
    let run = env
        .sh("img-build -t m:3 --secret id=token,src=token ctx")
        .ok();
    assert_eq!(
        run.stderr.matches("Using cache").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(in_image(&env, "m:3", "busybox cat /from-bind"), "changed\n");
    let run = env.sh("img-build --no-cache ctx").code(2);
    assert!(
        run.stderr.contains("secret token is required"),
        "{}",
        run.stderr
    );
    // img-prune --build-cache drops the cached steps and the cache mounts.
    let pruned = env.sh("img-prune -f --build-cache").ok();
    assert!(
        pruned.stdout.contains("Deleted build cache objects:\n"),
        "{}",
        pruned.stdout
    );
    let run = env
        .sh("img-build -t m:4 --secret id=token,src=token ctx")
        .ok();
    assert!(!run.stderr.contains("Using cache"), "{}", run.stderr);
    assert_eq!(in_image(&env, "m:4", "busybox cat /seen"), "1\n");
    env.check_store();
}

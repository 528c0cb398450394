//! Issue 13's "Done when": the tutorials' container steps (seeds/000,
//! seeds/002) as written, `docker ` replaced by `img-`: a shell in a
//! `busybox` container changes a file and another terminal commits the
//! running container; `docker export $(docker create busybox:hello) -o
//! busybox.tar` and `tar -xf`; the `mynginx` image built from a
//! Dockerfile, run in the foreground with `-p 8090:80` and fetched with
//! curl while `img-ps` lists it. Each "terminal" is a job of one shell
//! script, with a deadline on the whole script and on every wait in it.

use std::time::Duration;

use crate::containers::{assert_no_leftovers, listening, ready, sh_within};

/// A port of 127.0.0.1 free a moment ago (the tutorial's 8090 could be
/// taken by a test running beside this one).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_tutorials_container_steps_work_as_written() {
    let Some(env) = ready() else { return };
    env.seed("base", "busybox");

    // docker run --name=busybox --rm -it busybox sh; in it, write
    // hello.txt; from another terminal, docker commit busybox
    // busybox:hello. (-i without -t: the "terminal" is a fifo here.)
    let commit = sh_within(
        &env,
        r#"set -e
        mkfifo shell-in
        img-run --name=busybox --rm -i busybox sh <shell-in >shell.out 2>shell.err & shell=$!
        exec 3>shell-in
        echo 'touch hello.txt && echo "Hello World" > hello.txt' >&3
        for i in $(seq 400); do
          img-exec busybox sh -c 'cat /hello.txt' 2>/dev/null | grep -q 'Hello World' && break
          [ "$i" = 400 ] && { echo "hello.txt never appeared" >&2; exit 1; }
          sleep 0.05
        done
        img-ps --format '{{.Names}} {{.Image}} {{.State}}'
        img-commit busybox busybox:hello >/dev/null
        echo 'echo bye; exit' >&3
        exec 3>&-
        wait $shell
        cat shell.out
        "#,
        Duration::from_secs(120),
    )
    .ok();
    assert_eq!(commit.stdout, "busybox busybox running\nbye\n");
    // --rm: the shell's container is gone once it ended.
    assert_eq!(env.sh("img-ps -aq").ok().stdout, "");

    // mkdir -p /tmp/busybox && cd /tmp/busybox
    // docker export $(docker create busybox:hello) -o /tmp/busybox/busybox.tar
    // tar -xf busybox.tar
    let export = env
        .sh("mkdir -p x/busybox && cd x/busybox && img-export $(img-create busybox:hello) -o $PWD/busybox.tar && tar -xf busybox.tar && cat hello.txt && test -x bin/busybox")
        .ok();
    assert_eq!(export.stdout, "Hello World\n");

    // The mynginx demo, with busybox's httpd for nginx (no internet for
    // yum): FROM, COPY, EXPOSE, ENV, CMD as the tutorial has them.
    std::fs::create_dir_all(env.path("mynginx")).unwrap();
    std::fs::write(env.path("mynginx/index.html"), "hello from mynginx\n").unwrap();
    std::fs::write(
        env.path("mynginx/Dockerfile"),
        "FROM busybox\nCOPY index.html /www/index.html\nEXPOSE 80\nENV HOST=mynginx\nCMD [\"busybox\",\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"]\n",
    )
    .unwrap();
    env.sh("cd mynginx && img-build -q -t mynginx . >/dev/null")
        .ok();
    let port = free_port();
    // docker run -p 8090:80 mynginx (in the foreground), then curl it from
    // another terminal, look for it with docker ps, and stop it there.
    let web = sh_within(
        &env,
        &format!(
            r#"set -e
            img-run -p {port}:80 mynginx >web.out 2>web.err & web=$!
            for i in $(seq 400); do
              curl -sf 127.0.0.1:{port} && break
              [ "$i" = 400 ] && {{ echo "nothing answered on {port}" >&2; cat web.err >&2; exit 1; }}
              sleep 0.05
            done
            img-ps --format '{{{{.Image}}}} {{{{.Ports}}}} {{{{.Status}}}}' | sed 's/Up .*/Up/'
            id=$(img-ps -q)
            img-exec $id sh -c 'echo $HOST'
            img-stop -t 1 $id >/dev/null
            code=0; wait $web || code=$?
            echo "img-run exited $code"
            "#
        ),
        Duration::from_secs(120),
    )
    .ok();
    assert_eq!(
        web.stdout,
        format!(
            "hello from mynginx\nmynginx 0.0.0.0:{port}->80/tcp Up\nmynginx\nimg-run exited 137\n"
        )
    );
    assert!(!listening(port), "port {port} still in use after img-stop");
    env.sh("img-rm --container $(img-ps -aq)").ok();
    assert_no_leftovers(&env);
}

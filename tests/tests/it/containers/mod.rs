//! Containers as the tutorials use them: detached, published ports
//! through pasta, img-ps/logs/exec/stop/kill/start/create, removal, export
//! of a container; and nothing leaked when img-run or img-build is killed.

use std::time::Duration;

use img_tests::{need, Env, Run};

mod killed;
mod network;

const PEERS: &[&str] = &["runc", "skopeo", "umoci", "pasta", "curl"];

pub(crate) fn ready() -> Option<Env> {
    if !need(PEERS) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "base");
    env.sh("mkdir www && echo hello-from-container > www/index.html")
        .ok();
    Some(env)
}

/// A detached busybox httpd serving ./www on container port 80, published
/// on a free port of 127.0.0.1; its name and host port.
fn web(env: &Env, name: &str) -> u16 {
    env.sh(&format!(
        "img-run -d --name {name} -p 127.0.0.1::80 -v $PWD/www:/www base busybox httpd -f -p 80 -h /www"
    ))
    .ok();
    let ports = env
        .sh(&format!(
            "img-ps --filter name={name} --format '{{{{.Ports}}}}'"
        ))
        .ok()
        .stdout;
    // 127.0.0.1:PORT->80/tcp
    let port = ports
        .trim()
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.split_once("->"))
        .map(|(p, _)| p.parse::<u16>().unwrap())
        .unwrap_or_else(|| panic!("no published port in {ports:?}"));
    port
}

/// curl the port until it answers (the server may still be starting), for
/// at most 10 s.
fn fetch(env: &Env, port: u16) -> String {
    env.sh(&format!(
        "for i in $(seq 200); do curl -sf 127.0.0.1:{port}/index.html && exit 0; sleep 0.05; done; exit 1"
    ))
    .ok()
    .stdout
}

pub(crate) fn listening(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

#[test]
fn published_web_servers_answer_and_free_their_ports_when_stopped() {
    let Some(env) = ready() else { return };
    let one = web(&env, "one");
    let two = web(&env, "two");
    assert_ne!(one, two);
    // Both listen on port 80 in their own network, behind different ports.
    assert_eq!(fetch(&env, one), "hello-from-container\n");
    assert_eq!(fetch(&env, two), "hello-from-container\n");
    let ps = env.sh("img-ps").ok().stdout;
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines.len(), 3, "{ps}");
    assert!(lines[0].starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{one}->80/tcp")), "{ps}");
    assert!(lines[1].contains("Up "), "{ps}");
    // exec into one: its own host name, environment and working directory.
    let exec = env
        .sh("img-exec -e X=1 -w /tmp one sh -c 'echo $X; pwd; busybox hostname'")
        .ok();
    let id = env.sh("img-ps -q --no-trunc --filter name=one").ok().stdout;
    assert_eq!(exec.stdout, format!("1\n/tmp\n{}\n", &id[..12]));
    assert_eq!(env.sh("img-exec one sh -c 'exit 9'").code, 9);
    // A running container is committed as it is.
    env.sh("img-exec one sh -c 'echo changed > /changed.txt'")
        .ok();
    env.sh("img-commit one base:changed").ok();
    let run = env
        .sh("img-run --rm base:changed busybox cat /changed.txt")
        .ok();
    assert_eq!(run.stdout, "changed\n");
    // Stopped: the port is free at once, the record says how it ended.
    let stop = env.sh("img-stop -t 1 one").ok();
    assert_eq!(stop.stdout, "one\n");
    assert!(!listening(one), "port {one} still in use after img-stop");
    assert!(listening(two));
    let status = env
        .sh("img-ps -a --filter name=one --format '{{.State}} {{.Status}}'")
        .ok()
        .stdout;
    assert!(status.starts_with("exited Exited (137)"), "{status}");
    // Stopping a stopped container is no error, as with Docker; killing one is.
    assert_eq!(env.sh("img-stop one").ok().stdout, "one\n");
    let kill = env.sh("img-kill one").code(1);
    assert!(kill.stderr.contains("is not running"), "{}", kill.stderr);
    assert_eq!(kill.stderr.lines().count(), 1, "{}", kill.stderr);
    // A running one is removed only with -f.
    let rm = env.sh("img-rm --container two").code(1);
    assert!(rm.stderr.contains("stop it first"), "{}", rm.stderr);
    env.sh("img-rm --container -f two one").ok();
    assert!(!listening(two));
    assert_eq!(env.sh("img-ps -aq").ok().stdout, "");
    assert_no_leftovers(&env);
}

#[test]
fn a_detached_containers_output_is_kept_and_it_can_be_started_again() {
    let Some(env) = ready() else { return };
    let id = env
        .sh("img-run -d --name talk base sh -c 'echo out; echo err >&2; busybox sleep 1000'")
        .ok()
        .stdout;
    assert_eq!(id.trim().len(), 64, "{id}");
    // Wait for the two lines (a deadline, not a guess).
    env.sh("for i in $(seq 200); do [ $(img-logs talk 2>&1 | wc -l) = 2 ] && exit 0; sleep 0.05; done; exit 1")
        .ok();
    let logs = env.sh("img-logs talk").ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n")
    );
    let tail = env.sh("img-logs --tail 1 -t talk 2>&1").ok().stdout;
    // stdout and stderr are copied apart: either may come last.
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(
        tail.ends_with(" err\n") || tail.ends_with(" out\n"),
        "{tail}"
    );
    assert!(tail.starts_with("20") && tail.contains('T'), "{tail}");
    let log = env.sh("cat store/.img/containers/*/*-json.log").ok().stdout;
    assert!(
        log.contains("{\"log\":\"out\\n\",\"stream\":\"stdout\",\"time\":\""),
        "{log}"
    );
    env.sh("img-kill -s TERM talk").ok();
    env.sh("img-stop talk").ok();
    // img-start runs it again with what it was made with; -a follows it.
    let created = env
        .sh("img-create --name later base sh -c 'echo again'")
        .ok()
        .stdout;
    assert_eq!(created.trim().len(), 64);
    assert!(
        env.sh("img-ps -a --filter status=created -q")
            .ok()
            .stdout
            .len()
            >= 12
    );
    let attached = env.sh("img-start -a later").ok();
    assert_eq!(attached.stdout, "again\n");
    let failing = env
        .sh("img-start -a $(img-create base sh -c 'exit 3')")
        .code(3);
    assert_eq!(failing.stdout, "");
    assert_no_leftovers(&env);
}

#[test]
fn a_foreground_containers_output_is_logged_and_its_streams_are_pipes() {
    let Some(env) = ready() else { return };
    let run = env
        .sh("img-run --name fg base sh -c 'echo out; echo err >&2; [ -t 1 ] || echo piped'")
        .ok();
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("out\npiped\n", "err\n")
    );
    // Kept as Docker keeps it, for img-logs once it ended.
    let logs = env.sh("img-logs fg").ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\npiped\n", "err\n")
    );
    // A reader that goes away ends a writer that goes on, as a closed
    // pipe does: its writes fail (EPIPE; as the namespace's first process
    // it gets no SIGPIPE), and busybox yes exits 1.
    let head = sh_within(
        &env,
        "img-run --rm base busybox yes 2>/dev/null | head -1; echo ${PIPESTATUS[0]}",
        Duration::from_secs(120),
    )
    .ok();
    assert_eq!(head.stdout, "y\n1\n");
    // stdin reaches the container with -i, and its end too.
    let cat = env
        .sh_with_stdin("img-run --rm -i base busybox wc -c", Some(b"12345"))
        .ok();
    assert_eq!(cat.stdout.trim(), "5");
    // -d -i: stdin stays open (nothing attached), so a shell keeps
    // running, as `docker run -di busybox sh` does.
    env.sh("img-run -di --name keep base sh").ok();
    let status = env
        .sh("img-ps --filter name=keep --format '{{.State}}'")
        .ok()
        .stdout;
    assert_eq!(status, "running\n");
    assert_eq!(env.sh("img-exec keep busybox echo hi").ok().stdout, "hi\n");
    // A command that cannot be run exits 126, as with docker exec; the
    // command's own 255 is its own.
    for missing in ["nope", "/etc/passwd"] {
        let run = env.sh(&format!("img-exec keep {missing}")).code(126);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(missing), "{}", run.stderr);
    }
    env.sh("img-exec keep sh -c 'exit 255'").code(255);
    env.sh("img-rm --container -f keep").ok();
    assert_no_leftovers(&env);
}

#[test]
fn a_created_container_is_exported_as_docker_export_writes_it() {
    let Some(env) = ready() else { return };
    env.sh("img-run --name work base sh -c 'echo hi > /hello.txt; rm /etc/passwd'")
        .ok();
    env.sh("img-commit work base:hello").ok();
    env.sh("img-export $(img-create base:hello) -o busybox.tar")
        .ok();
    let files = env.sh("tar -tf busybox.tar | sort").ok().stdout;
    for want in ["bin/busybox", "hello.txt", "etc/hosts", "proc/", "dev/"] {
        assert!(files.lines().any(|l| l == want), "{want} missing: {files}");
    }
    assert!(!files.contains("etc/passwd"), "{files}");
    assert!(!files.contains(".wh."), "{files}");
    // What the container itself removed is gone from its own export too.
    let own = env.sh("img-export work | tar -t").ok().stdout;
    assert!(
        own.contains("hello.txt") && !own.contains("etc/passwd"),
        "{own}"
    );
    assert_no_leftovers(&env);
}

#[test]
fn bad_input_changes_nothing() {
    let Some(env) = ready() else { return };
    let before = env.index_bytes();
    let run = env.sh("img-run -p 80:x base true").code(125);
    assert!(
        run.stderr.contains("invalid port specification"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let run = env
        .sh(&format!(
            "img-run -d -p 127.0.0.1:{port}:80 base busybox sleep 100"
        ))
        .code(125);
    assert!(run.stderr.contains("already allocated"), "{}", run.stderr);
    let run = env.sh("img-run --network host -p 80 base true").code(125);
    assert!(run.stderr.contains("published ports"), "{}", run.stderr);
    // Found bad once pasta connects the network (it starts first): pasta
    // ends with the run.
    let run = env.sh("img-run --rm -u nosuchuser base true").code(125);
    assert!(run.stderr.contains("nosuchuser"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(env.sh("img-ps -aq").ok().stdout, "", "nothing half-created");
    assert_no_leftovers(&env);
    for program in [
        "img-stop",
        "img-kill",
        "img-logs",
        "img-start",
        "img-rm --container",
    ] {
        let run = env.sh(&format!("{program} nosuch")).code(1);
        assert!(
            run.stderr.contains("No such container: nosuch"),
            "{program}: {}",
            run.stderr
        );
    }
    let run = env.sh("img-exec nosuch true").code(1);
    assert!(run.stderr.contains("No such container"), "{}", run.stderr);
    assert_eq!(env.index_bytes(), before);
}

/// Run `script` as `Env::sh` does, failing the test when its output has
/// not ended within `deadline`: a process left holding the pipeline's
/// stdout or stderr (a leftover of a killed program) would make a caller
/// such as `x=$(img-run …)` wait forever.
pub(crate) fn sh_within(env: &Env, script: &str, deadline: Duration) -> Run {
    use std::process::{Command, Stdio};
    let path = format!(
        "{}:{}",
        img_tests::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("bash")
        .args(["-c", &format!("set -o pipefail\n{script}")])
        .current_dir(env.dir.path())
        .env("PATH", path)
        .env("IMG_ROOT", env.store())
        .env("STORE", env.store())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = receiver
        .recv_timeout(deadline)
        .unwrap_or_else(|_| {
            panic!(
                "the pipeline's output did not end within {} s: something holds it\n{script}",
                deadline.as_secs()
            )
        })
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A process, runtime container or mount of the store left behind (the
/// last owner may still be exiting: looked at again for up to 10 s).
pub(crate) fn assert_no_leftovers(env: &Env) {
    for _ in 0..200 {
        if std::panic::catch_unwind(|| leftovers(env)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    leftovers(env);
}

fn leftovers(env: &Env) {
    let store = env.store().display().to_string();
    let runtime = env.store().join(".img/runtime");
    for rt in ["runc", "crun", "gated"] {
        let dir = runtime.join(rt);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "runtime containers left in {}: {left:?}",
            dir.display()
        );
    }
    let mut procs = Vec::new();
    let mut mounts = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&store) {
            procs.push(cmdline);
        }
        let info = std::fs::read_to_string(entry.path().join("mountinfo")).unwrap_or_default();
        if info.lines().any(|l| l.contains(&store)) {
            mounts.push(pid);
        }
    }
    assert!(procs.is_empty(), "processes of the store left: {procs:?}");
    assert!(
        mounts.is_empty(),
        "processes still see mounts of the store: {mounts:?}"
    );
}

/// Docker's default seccomp profile filters every container (and every
/// RUN step): a call it denies fails even where the capabilities would
/// let it through (an unprivileged user namespace needs none), and works
/// unconfined, with the capability the profile names, or privileged.
#[test]
fn seccomp_filters_as_dockers_default_profile() {
    let Some(env) = ready() else { return };
    let status = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";
    let filtered = env
        .sh(&format!("img-run --rm base sh -c \"{status}\""))
        .ok();
    assert_eq!(filtered.stdout, "NoNewPrivs:\t0\nSeccomp:\t2\n");
    let denied = env.sh("img-run --rm base busybox unshare -U true").code(1);
    assert!(
        denied.stderr.contains("Operation not permitted"),
        "{}",
        denied.stderr
    );
    env.sh("img-run --rm --security-opt seccomp=unconfined base busybox unshare -U true")
        .ok();
    env.sh("img-run --rm --cap-add SYS_ADMIN base busybox unshare -U true")
        .ok();
    let privileged = env
        .sh(&format!(
            "img-run --rm --privileged base sh -c \"{status}\""
        ))
        .ok();
    assert_eq!(privileged.stdout, "NoNewPrivs:\t0\nSeccomp:\t0\n");
    let nnp = env
        .sh(&format!(
            "img-run --rm --security-opt no-new-privileges base sh -c \"{status}\""
        ))
        .ok();
    assert_eq!(nnp.stdout, "NoNewPrivs:\t1\nSeccomp:\t2\n");
    // A profile of Docker's format from a file.
    std::fs::write(
        env.path("no-mkdir.json"),
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let own = env
        .sh("img-run --rm --security-opt seccomp=no-mkdir.json base busybox mkdir /x")
        .code(1);
    assert!(own.stderr.contains("Permission denied"), "{}", own.stderr);
    for bad in ["seccomp=nosuch.json", "apparmor=docker-default"] {
        let run = env
            .sh(&format!("img-run --rm --security-opt {bad} base true"))
            .code(125);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    // A RUN step is filtered as BuildKit filters it.
    std::fs::create_dir(env.path("ctx")).unwrap();
    std::fs::write(
        env.path("ctx/Dockerfile"),
        format!("FROM base\nRUN {status}\n"),
    )
    .unwrap();
    let build = env.sh("img-build ctx 2>&1 >/dev/null").ok();
    assert!(build.stdout.contains("Seccomp:\t2"), "{}", build.stdout);
    assert_no_leftovers(&env);
}

/// `img-run --version` names the runtimes it would run containers with,
/// in the order tried, each with the version its own `--version` gives;
/// --runtime narrows it to that one; and the record names the runtime
/// that ran the container.
#[test]
fn the_runtime_and_its_version_are_reported() {
    let Some(env) = ready() else { return };
    let own = format!("img-run {}\n", env!("CARGO_PKG_VERSION"));
    let runc = env.sh("command -v runc").ok().stdout;
    let version = env.sh("runc --version | head -1").ok().stdout;
    let version = version.trim().strip_prefix("runc version ").unwrap();
    let chosen = env.sh("img-run --runtime runc --version").ok().stdout;
    assert_eq!(
        chosen,
        format!("{own}runtime: runc {version} ({})\n", runc.trim())
    );
    let all = env.sh("env -u IMG_RUNTIME img-run -V").ok().stdout;
    assert!(
        all.starts_with(&format!("{own}runtime: runc {version} (")),
        "{all}"
    );
    if env.sh("command -v crun").code == 0 {
        assert!(
            all.lines().nth(2).unwrap().starts_with("runtime: crun "),
            "{all}"
        );
    }
    // A runtime is asked, not guessed: whatever it says is what is shown.
    let told = env
        .sh("printf '#!/bin/sh\necho \"toy version 9.9\"\n' >toy && chmod +x toy && IMG_RUNTIME=$PWD/toy img-create --version")
        .ok()
        .stdout;
    let toy = env.path("toy").display().to_string();
    assert_eq!(
        told,
        format!(
            "img-create {}\nruntime: {toy} 9.9 ({toy})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let broken = env
        .sh("printf '#!/bin/sh\necho broken >&2; exit 3\n' >toy && img-run --runtime ./toy --version")
        .ok()
        .stdout;
    assert!(
        broken.contains("runtime: ./toy version unknown ("),
        "{broken}"
    );
    assert!(broken.contains("broken"), "{broken}");
    let missing = env
        .sh("img-run --runtime no-such-runtime --version")
        .code(125);
    assert!(
        missing.stderr.contains("no-such-runtime"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.stdout, "");
    // The record keeps the runtime that ran the container.
    env.sh("img-run --runtime runc --name ran base busybox true")
        .ok();
    let record = env
        .sh("cat $STORE/.img/containers/*/container.json")
        .ok()
        .stdout;
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["runtime"], "runc");
    env.sh("img-rm --container ran").ok();
    assert_no_leftovers(&env);
}

/// A detached `--rm` container leaves the list in one step when it ends
/// (its directory thrown into the store's trash, which its guard empties),
/// even when its directory cannot be deleted (here a file made immutable
/// in its writable layer): nothing half-removed is listed, and img-fsck
/// shows what is left until it can go.
#[test]
fn a_detached_rm_container_goes_whole_even_when_its_files_cannot() {
    let Some(env) = ready() else { return };
    let run = env.sh(
        "trap 'chattr -i store/.img/*/*/upper/stuck 2>/dev/null' EXIT
         mkdir probe
         id=$(img-run -d --rm -v $PWD/probe:/probe base sh -c ': > /stuck; : > /probe/ready
           while [ ! -e /probe/go ]; do busybox sleep 0.05; done')
         wait_for 60 'test -e probe/ready'
         chattr +i store/.img/containers/$id/upper/stuck
         : > probe/go
         wait_for 60 '[ -z \"$(img-ps -aq)\" ]'
         test -d store/.img/trash/$id && echo in the trash
         img-fsck 2>&1 | grep -c \"leftover: .img/trash/$id \"
         chattr -i store/.img/trash/$id/upper/stuck
         img-ps -a >/dev/null; test ! -e store/.img/trash/$id && echo gone",
    );
    assert_eq!(run.ok().stdout, "in the trash\n1\ngone\n");
    assert_no_leftovers(&env);
}

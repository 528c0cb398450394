//! img-run: containers through the real runc, as `docker run` runs them;
//! img-commit of a container; img-prune --containers.

use img_tests::registry::Registry;
use img_tests::{need, on_terminal, Env};

const PEERS: &[&str] = &["runc", "skopeo", "umoci"];

fn ready() -> Option<Env> {
    if !need(PEERS) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "base");
    Some(env)
}

/// The containers the store keeps.
fn containers(env: &Env) -> Vec<serde_json::Value> {
    let dir = env.store().join(".img/containers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("container.json")).ok())
        .map(|b| serde_json::from_slice(&b).unwrap())
        .collect()
}

/// Overlay mounts of this store visible to the host (there must be none).
fn host_mounts(env: &Env) -> Vec<String> {
    let store = env.store().display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&store))
        .map(String::from)
        .collect()
}

/// `--rm` removes the container off img-run's critical path: its
/// directory is gone from the list when img-run returns (moved into the
/// store's trash in one step), and its guard empties the trash after,
/// with no other img program run. Trash a guard never emptied (killed, or
/// a crash) goes with the next program; trash a live guard holds stays
/// its guard's.
#[test]
fn a_removed_containers_directory_goes_through_the_trash() {
    let Some(env) = ready() else { return };
    let run = env
        .sh(
            "img-run --rm base sh -c ': > /in-the-writable-layer; echo ran'
             ls store/.img/containers | grep -E '^[0-9a-f]{64}$'
             wait_for 60 '[ -z \"$(ls store/.img/trash)\" ]'
             echo trash emptied",
        )
        .ok();
    assert_eq!(run.stdout, "ran\ntrash emptied\n");
    env.sh(
        "mkdir -p store/.img/trash/left/upper/etc store/.img/trash/held
         : > store/.img/trash/left/upper/etc/file
         flock -s store/.img/trash/held sh -c 'img-ps -a >/dev/null; test -d store/.img/trash/held'
         test ! -e store/.img/trash/left
         img-ps -a >/dev/null; test ! -e store/.img/trash/held",
    )
    .ok();
    env.check_store();
}

#[test]
fn the_command_runs_and_its_exit_status_is_img_runs() {
    let Some(env) = ready() else { return };
    let run = env
        .sh("img-run --rm base sh -c 'echo out; echo err >&2; exit 3'")
        .code(3);
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n");
    // The image's CMD (sh) with an empty stdin ends at once.
    env.sh("img-run --rm base").ok();
    // Signals img-run receives reach the container's process (which, as
    // PID 1 of its namespace, sees only those it handles).
    let run = env
        .sh(
            "mkdir probe; img-run --rm -v $PWD/probe:/probe base sh -c \
             'trap \"echo got TERM; exit 7\" TERM; : > /probe/ready; for i in $(busybox seq 1200); do busybox sleep 0.05; done; exit 9' &
             wait_for 60 'test -e probe/ready'; kill -TERM $!; wait $!",
        )
        .code(7);
    assert_eq!(run.stdout, "got TERM\n");
    // A relative --root serves as well.
    let run = env
        .sh("img-run --root store --rm base sh -c 'echo rel'")
        .ok();
    assert_eq!(run.stdout, "rel\n");
    assert!(containers(&env).is_empty(), "--rm removed them");
    assert!(host_mounts(&env).is_empty());
    env.check_store();
}

#[test]
fn stdin_reaches_the_container_only_with_i() {
    let Some(env) = ready() else { return };
    let run = env
        .sh_with_stdin("img-run --rm -i base busybox cat", Some(b"through\n"))
        .ok();
    assert_eq!(run.stdout, "through\n");
    // Without -i the command runs with an empty stdin: cat reads nothing,
    // and the echo after it shows that it ran.
    let run = env
        .sh_with_stdin(
            "img-run --rm base sh -c 'busybox cat; echo ran'",
            Some(b"never\n"),
        )
        .ok();
    assert_eq!(run.stdout, "ran\n");
}

#[test]
fn environment_workdir_user_and_hostname() {
    let Some(env) = ready() else { return };
    env.sh("printf 'B=2\\n# note\\nC\\n' > env.list").ok();
    let run = env
        .sh(
            "C=from-host img-run --rm -e A=1 --env-file env.list -w /work/dir -u 1000:1001 -h box base \
             sh -c 'echo $A $B $C; pwd; busybox id -u; busybox id -g; busybox hostname; echo $HOME; echo $PATH'",
        )
        .ok();
    assert_eq!(
        run.stdout,
        "1 2 from-host\n/work/dir\n1000\n1001\nbox\n/\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    // root, from the image's /etc/passwd; the host name is the short ID.
    let run = env
        .sh("img-run --name named base sh -c 'echo $HOME; busybox hostname'")
        .ok();
    let id = containers(&env)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(run.stdout, format!("/root\n{}\n", &id[..12]));
    let run = env.sh("img-run --rm -u nobody base sh -c :").code(125);
    assert!(
        run.stderr.contains("unable to find user nobody"),
        "{}",
        run.stderr
    );
}

#[test]
fn entrypoint_and_cmd_combine_as_docker_combines_them() {
    let Some(env) = ready() else { return };
    env.sh(
        r#"img-commit --no-layer -c 'ENTRYPOINT ["busybox", "echo"]' -c 'CMD ["default"]' base echo:1"#,
    )
    .ok();
    assert_eq!(env.sh("img-run --rm echo:1").ok().stdout, "default\n");
    assert_eq!(env.sh("img-run --rm echo:1 a b").ok().stdout, "a b\n");
    let run = env
        .sh("img-run --rm --entrypoint busybox echo:1 printf '%s-' x y")
        .ok();
    assert_eq!(run.stdout, "x-y-");
}

#[test]
fn failures_exit_as_docker_run_does() {
    let Some(env) = ready() else { return };
    let before = env.index_bytes();
    let run = env.sh("img-run --rm base no-such-command").code(127);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("img-run: error: "), "{}", run.stderr);
    assert!(lines[0].contains("no-such-command"), "{}", run.stderr);
    env.sh("img-run --rm base /etc").code(126);
    let run = env.sh("img-run --rm --pull never nothing:here").code(125);
    assert!(run.stderr.contains("No such image"), "{}", run.stderr);
    let run = env.sh("img-run --rm -v relative:/x base sh -c :").code(125);
    assert!(run.stderr.contains("absolute host path"), "{}", run.stderr);
    env.sh("tar -cf empty.tar --files-from /dev/null && img-import empty.tar nocmd:1")
        .ok();
    let run = env.sh("img-run --rm nocmd:1").code(125);
    assert!(
        run.stderr.contains("no command specified"),
        "{}",
        run.stderr
    );
    assert!(containers(&env).is_empty());
    // Failed runs named nothing new but the import.
    let after: serde_json::Value = env.index();
    let names = after["manifests"].as_array().unwrap().len();
    let was: serde_json::Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(names, was["manifests"].as_array().unwrap().len() + 1);
    env.check_store();
}

/// A runtime that fails to create the container is passed over for the
/// next: here a broken `runc` first on PATH, and the real runc as `crun`.
#[test]
fn a_runtime_that_fails_gives_way_to_the_next() {
    let Some(env) = ready() else { return };
    env.sh(
        "mkdir rt && printf '#!/bin/sh\\necho \"cgroups in hybrid mode not supported\" >&2\\nexit 1\\n' > rt/runc \
         && chmod +x rt/runc && ln -s \"$(command -v runc)\" rt/crun",
    )
    .ok();
    let run = env
        .sh("PATH=$PWD/rt:$PATH img-run --name fallback base sh -c 'echo ran'")
        .ok();
    assert_eq!(run.stdout, "ran\n");
    assert_eq!(run.stderr, "", "the failed runtime's words are not shown");
    assert_eq!(containers(&env)[0]["runtime"], "crun");
    // Chosen, a failing runtime is the error.
    let run = env
        .sh("PATH=$PWD/rt:$PATH img-run --rm --runtime runc base sh -c :")
        .code(125);
    assert!(run.stderr.contains("hybrid mode"), "{}", run.stderr);
}

#[test]
fn a_container_is_committed_as_docker_commits_it() {
    let Some(env) = ready() else { return };
    env.sh("img-run --name work base sh -c 'echo Hello World > /hello.txt; rm /etc/passwd'")
        .ok();
    let c = &containers(&env)[0];
    assert_eq!(c["name"], "work");
    assert_eq!(c["state"]["status"], "exited");
    assert_eq!(c["state"]["code"], 0);
    let run = env.sh("img-commit work base:hello").ok();
    assert_eq!(run.records().len(), 1);
    // Only what the command changed: the runtime's mount points are not in it.
    let files = env
        .sh("img-layer extract base:hello 1 | img-layer ls --files - | sed -E 's/.* [0-9]{2}:[0-9]{2} //'")
        .ok();
    assert_eq!(files.stdout, "etc/\netc/passwd (removed)\nhello.txt\n");
    let history = env
        .sh("img-history --no-trunc --format '{{.CreatedBy}}' base:hello | head -1")
        .ok();
    assert_eq!(
        history.stdout,
        "sh -c echo Hello World > /hello.txt; rm /etc/passwd\n"
    );
    let run = env
        .sh("img-run --rm base:hello sh -c 'busybox cat /hello.txt; busybox ls /etc'")
        .ok();
    assert_eq!(run.stdout, "Hello World\nhostname\nhosts\nresolv.conf\n");
    // umoci unpacks the same tree from the store.
    env.sh("umoci unpack --image \"$STORE:docker.io/library/base:hello\" out >/dev/null")
        .ok();
    assert!(env.path("out/rootfs/hello.txt").exists());
    assert!(!env.path("out/rootfs/etc/passwd").exists());
    assert!(!env.path("out/rootfs/proc").exists());
    env.check_store();
}

#[test]
fn names_are_unique_and_stopped_containers_are_pruned() {
    let Some(env) = ready() else { return };
    env.sh("img-run --name one base sh -c :").ok();
    let run = env.sh("img-run --name one base sh -c :").code(125);
    assert!(run.stderr.contains("already in use"), "{}", run.stderr);
    env.sh("img-run base sh -c 'exit 4'").code(4);
    let all = containers(&env);
    assert_eq!(all.len(), 2);
    let listed = env.sh("img-ls --containers").ok();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE"),
        "{}",
        listed.stdout
    );
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(
        lines[1].contains("Exited (4)"),
        "newest first: {}",
        listed.stdout
    );
    assert!(
        lines[2].contains("\"sh -c :\"") && lines[2].ends_with("one"),
        "{}",
        listed.stdout
    );
    let ids = env.sh("img-ls --containers -q --no-trunc").ok();
    assert_eq!(ids.stdout.lines().count(), 2);
    let generated = all.iter().find(|c| c["name"] != "one").unwrap();
    assert!(generated["name"].as_str().unwrap().contains('_'));
    assert_eq!(generated["state"]["code"], 4);
    // The image stays while containers use it.
    let run = env.sh("img-rm base").code(1);
    assert!(run.stderr.contains("must force"), "{}", run.stderr);
    let run = env.sh("img-prune -f -a").ok();
    assert!(
        !run.stdout.contains("untagged: docker.io/library/base"),
        "{}",
        run.stdout
    );
    let snapshots = env.store().join(".img/snapshots");
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 1);
    let run = env.sh("img-prune -f --containers").ok();
    assert!(
        run.stdout.starts_with("Deleted Containers:\n"),
        "{}",
        run.stdout
    );
    for c in &all {
        assert!(run.stdout.contains(c["id"].as_str().unwrap()));
    }
    assert!(containers(&env).is_empty());
    env.sh("img-rm base").ok();
    env.sh("img-prune -f").ok();
    assert_eq!(
        std::fs::read_dir(&snapshots).unwrap().count(),
        0,
        "no image or container uses the unpacked layer"
    );
    env.check_store();
}

/// While a container runs, its root filesystem is mounted only in
/// img-run's mount namespace, and a bind mount shares a host directory.
#[test]
fn mounts_stay_inside_and_volumes_are_shared() {
    let Some(env) = ready() else { return };
    env.sh("mkdir probe").ok();
    let script = "img-run --rm -v $PWD/probe:/probe base sh -c \
        'echo from-container > /probe/started; for i in $(busybox seq 1200); do [ -e /probe/stop ] && break; busybox sleep 0.05; done' &
        wait_for 60 'test -e probe/started'
        grep -c \"$STORE\" /proc/self/mountinfo || true
        touch probe/stop; wait";
    let run = env.sh(script).ok();
    assert_eq!(run.stdout, "0\n", "the host saw the container's mount");
    assert_eq!(
        std::fs::read_to_string(env.path("probe/started")).unwrap(),
        "from-container\n"
    );
    let run = env
        .sh("img-run --rm -v $PWD/probe:/probe:ro base sh -c 'echo x > /probe/x'")
        .code(1);
    assert!(run.stderr.contains("Read-only"), "{}", run.stderr);
    assert!(host_mounts(&env).is_empty());
}

#[test]
fn read_only_root_network_none_and_tmpfs() {
    let Some(env) = ready() else { return };
    let run = env
        .sh("img-run --rm --read-only base sh -c 'echo x > /x'")
        .code(1);
    assert!(run.stderr.contains("Read-only"), "{}", run.stderr);
    env.sh("img-run --rm --read-only --tmpfs /scratch base sh -c 'echo x > /scratch/x'")
        .ok();
    let run = env
        .sh("img-run --rm --network none base busybox ip -o link | busybox awk '{print $2}'")
        .ok();
    assert_eq!(run.stdout, "lo:\n");
    let host = env
        .sh("img-run --rm --network host base busybox ip -o link | wc -l")
        .ok();
    let on_host = env.sh("ip -o link | wc -l").ok();
    assert_eq!(
        host.stdout, on_host.stdout,
        "--network host shares the host's"
    );
}

#[test]
fn a_missing_image_is_pulled_first() {
    if !need(&["runc", "skopeo", "docker-registry"]) {
        return;
    }
    let registry = Registry::open();
    registry.skopeo_push(&img_tests::fixtures(), "base", "test/base:1");
    let env = Env::new();
    let image = format!("{}/test/base:1", registry.host);
    let run = env
        .sh(&format!("img-run --rm {image} sh -c 'echo pulled'"))
        .ok();
    assert_eq!(run.stdout, "pulled\n");
    assert!(
        run.stderr
            .starts_with(&format!("Unable to find image '{image}' locally\n")),
        "{}",
        run.stderr
    );
    env.sh(&format!("img-inspect {image} >/dev/null")).ok();
    // Present now: not pulled again (and it ran).
    let run = env
        .sh(&format!("img-run --rm {image} sh -c 'echo again'"))
        .ok();
    assert_eq!(run.stdout, "again\n");
    assert_eq!(run.stderr, "");
    env.check_store();
}

/// `-it` on a terminal: an interactive shell whose input is typed once
/// its prompt shows.
#[test]
fn a_terminal_with_it() {
    let Some(env) = ready() else { return };
    let run = env
        .sh(&on_terminal(
            "/ # ",
            "echo $((6*7)); busybox tty; exit 5",
            "img-run --rm -it base sh",
        ))
        .code(5);
    assert!(run.stdout.contains("42"), "{:?}", run.stdout);
    assert!(run.stdout.contains("/dev/pts/"), "{:?}", run.stdout);
}

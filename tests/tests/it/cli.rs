//! What every program shares: --help, --version, --root, one-line errors
//! with exit code 2 for bad input, and a store left as it was.

use img_tests::{bin_dir, docs, need, peers, Env};

#[test]
fn every_program_has_help_version_and_root() {
    let env = Env::new();
    for command in docs::commands() {
        let name = command.get_name().to_string();
        assert!(bin_dir().join(&name).exists(), "{name} is not built");
        let run = env.sh(&format!("{name} --version")).ok();
        let own = format!("{name} {}\n", env!("CARGO_PKG_VERSION"));
        // The programs that make containers add their runtimes' versions
        // (containers::the_runtime_and_its_version_are_reported).
        if ["img-run", "img-create"].contains(&name.as_str()) {
            assert!(run.stdout.starts_with(&own), "{}", run.stdout);
        } else {
            assert_eq!(run.stdout, own);
        }
        let run = env.sh(&format!("{name} --help")).ok();
        assert!(
            run.stdout.contains("--root <DIR>"),
            "{name} --help lacks --root"
        );
        // bad usage: one error line and Docker's hint, exit 2 (docker
        // run's 125 for the programs that run a command in a container)
        let runs_a_command = ["img-run", "img-exec", "img-start"].contains(&name.as_str());
        let code = if runs_a_command { 125 } else { 2 };
        let run = env.sh(&format!("{name} --no-such-flag")).code(code);
        assert_eq!(
            run.stderr,
            format!("{name}: error: unknown flag: --no-such-flag\nSee '{name} --help'.\n"),
        );
    }
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let before = env.index_bytes();
    for script in [
        "img-tag busybox 'bad name'",
        "img-tag busybox x:-bad",
        "img-tag Upper x",
        "img-rm 'a//b'",
        "img-inspect 'x@sha256:123'",
        "img-history ':nope'",
        "img-ls --filter nope=1",
        "echo '{\"mediaType\":1}' | img-tag x:1",
        "echo 'Not A/Name' | img-rm",
        "echo 'Not A/Name' | img-inspect",
        "img-inspect -f '{{.Id' busybox",
    ] {
        let run = env.sh(script).code(2);
        assert!(run.stderr.starts_with("img-"), "{script}: {}", run.stderr);
        assert!(run.stderr.contains(": error: "), "{script}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{script}: {}", run.stderr);
        assert_eq!(env.index_bytes(), before, "{script} changed the store");
    }
    env.check_store();
}

#[test]
fn closed_pipe_is_success() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // 2000 names: more output than a pipe holds, so img-ls meets a closed pipe
    env.sh(
        "jq -c '.manifests[0] as $m | .manifests = [range(2000) as $i | $m | .annotations[\"org.opencontainers.image.ref.name\"] = \"n\\($i)\"]' \
         $STORE/index.json > i && mv i $STORE/index.json",
    )
    .ok();
    let run = env.sh("img-ls | head -1").ok();
    assert_eq!(run.stdout.lines().count(), 1);
    assert_eq!(run.stderr, "");
}

/// Binary garbage (not UTF-8) on stdin is malformed records, exit 2 as
/// img.7 says, in every program that reads records — on the first line, or
/// after a good record — and the store is left as it was.
#[test]
fn binary_garbage_on_stdin_is_bad_input() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh(
        "printf '\\377\\376\\000\\201garbage\\n\\234' > garbage && img-tag busybox good:1 > good",
    )
    .ok();
    let before = img_tests::archive::snapshot(&env.store());
    for program in [
        "img-tag x:1",
        "img-rm",
        "img-inspect",
        "img-history",
        "img-export -o out.tar",
        "img-save -o out.tar",
        "img-push",
        "img-layer ls",
        "img-layer extract -o out.tar -",
    ] {
        for (input, line) in [("garbage", 1), ("good garbage", 2)] {
            let script = format!("cat {input} | {program}");
            let run = env.sh(&script).code(2);
            assert_eq!(run.stderr.lines().count(), 1, "{script}: {}", run.stderr);
            assert!(
                run.stderr.contains(": error: stdin line ")
                    && run.stderr.contains(&format!("line {line}: "))
                    && run.stderr.contains("not UTF-8"),
                "{script}: {}",
                run.stderr
            );
            assert_eq!(run.stdout, "", "{script}");
            assert!(!env.path("out.tar").exists(), "{script} wrote a file");
            assert_eq!(
                img_tests::archive::snapshot(&env.store()),
                before,
                "{script} changed the store"
            );
        }
    }
}

/// A pipe whose reader is gone before the program writes: `PROGRAM ARGS`
/// runs with such a stdout (no race with a reader that may or may not have
/// exited yet); the script prints its stderr and exits with its status.
fn with_closed_stdout(command: &str) -> String {
    format!(
        r#"python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.run(sys.argv[1:], stdout=w).returncode)' {command}"#
    )
}

#[test]
fn closed_pipe_is_success_for_every_image() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-tag busybox a:1 >/dev/null && img-tag busybox b:1 >/dev/null")
        .ok();
    // img.7: a closed pipe is success; every name is still removed
    let run = env.sh(&with_closed_stdout("img-rm a:1 b:1")).ok();
    assert_eq!(run.stderr, "");
    let left = env.sh("img-ls --format '{{.Repository}}'").ok();
    assert_eq!(left.stdout, "busybox\n");
    let run = env
        .sh(&with_closed_stdout(
            "img-inspect -f '{{.Id}}' busybox busybox",
        ))
        .ok();
    assert_eq!(run.stderr, "");
    env.check_store();
}

/// Every program that takes images on stdin takes a line holding an image
/// ID or name as well as a record (SPEC §2), so that both `img-ls -q` and
/// `img-build -q` compose with it.
#[test]
fn stdin_takes_image_ids_and_names() {
    if !need(peers::FIXTURES) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    let id = env.id("busybox");
    let short = &id[7..19];
    let run = env
        .sh(&format!(
            "printf '%s\\n' busybox {short} | img-inspect -f '{{{{.Id}}}}'"
        ))
        .ok();
    assert_eq!(run.stdout, format!("{id}\n{id}\n"));
    let run = env.sh("img-ls -q | img-tag copy:1").ok();
    assert_eq!(
        run.records()[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/copy:1"
    );
    let run = env.sh("echo copy:1 | img-history -q").ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    env.sh("img-ls -q --no-trunc | img-save -o saved.tar && test -s saved.tar")
        .ok();
    env.sh("echo busybox | img-export | tar -t | grep -x bin/busybox >/dev/null")
        .ok();
    env.sh(&format!("echo {short} | img-layer ls")).ok();
    // a record and a name, mixed
    let run = env
        .sh("{ img-tag busybox mixed:1; echo copy:1; } | img-rm")
        .ok();
    assert_eq!(run.stdout, "Untagged: mixed:1\nUntagged: copy:1\n");
    let run = env.sh("echo nosuch | img-rm").code(1);
    assert_eq!(run.stderr, "img-rm: error: No such image: nosuch:latest\n");
    env.check_store();
}

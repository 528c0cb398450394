//! What every program shares: --help, --version, --root, one-line errors
//! with exit code 2 for bad input, and a store left as it was.

use img_tests::{bin_dir, docs, need, Env};

#[test]
fn every_program_has_help_version_and_root() {
    let env = Env::new();
    for command in docs::commands() {
        let name = command.get_name().to_string();
        assert!(bin_dir().join(&name).exists(), "{name} is not built");
        let run = env.sh(&format!("{name} --version")).ok();
        assert_eq!(
            run.stdout,
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
        let run = env.sh(&format!("{name} --help")).ok();
        assert!(
            run.stdout.contains("--root <DIR>"),
            "{name} --help lacks --root"
        );
        let run = env.sh(&format!("{name} --no-such-flag")).code(2);
        assert!(
            run.stderr.contains("--no-such-flag"),
            "{name}: {}",
            run.stderr
        );
    }
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    if !need(&["skopeo", "umoci", "busybox"]) {
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
        "echo garbage | img-rm",
        "echo garbage | img-inspect",
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
    if !need(&["skopeo", "umoci", "busybox"]) {
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
    if !need(&["skopeo", "umoci", "busybox"]) {
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

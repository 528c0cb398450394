//! Docker's engine as the reference (see `differential.rs`): multi-stage
//! builds, parsing, and variables in other instructions' flags.

use super::differential::{case, history_text};

// Multi-stage builds

#[test]
fn only_the_stages_the_target_needs_are_built() {
    case(
        "diff-target",
        "FROM busybox AS base\nRUN echo base > /base\nFROM busybox AS broken\nRUN exit 1\nFROM base AS final\nRUN echo final > /final\nFROM busybox AS after\nRUN exit 1\n",
    )
    .flags("--target final")
    .same();
}

#[test]
fn unused_stages_are_not_built() {
    case(
        "diff-unused-stage",
        "FROM busybox AS broken\nRUN exit 1\nFROM busybox AS used\nRUN echo used > /used\nFROM busybox\nCOPY --from=used /used /\n",
    )
    .same();
}

#[test]
fn a_missing_target_fails() {
    case("diff-target-missing", "FROM busybox AS a\nFROM busybox\n")
        .flags("--target nothere")
        .fails("nothere", "nothere");
}

#[test]
fn stages_chain_and_copy_between_each_other() {
    case(
        "diff-stages",
        "FROM busybox AS a\nRUN echo a > /a\nFROM a AS b\nRUN echo b > /b\nFROM busybox\nCOPY --from=b /a /b /ab/\nCOPY --from=a /a /only-a\n",
    )
    .same();
}

// Parsing

#[test]
fn escape_directive_and_backslashes() {
    case(
        "diff-escape",
        "# escape=`\nFROM busybox\nENV WINPATH=C:\\dir\\sub\nRUN echo a `\n  b > /joined\n",
    )
    .same();
}

#[test]
fn comments_blank_lines_and_continuations() {
    case(
        "diff-continuations",
        "FROM busybox\n\n# a comment\nRUN echo one \\\n# a comment inside\n    two \\\n\n    three > /joined\n   # indented comment\nENV A=1 \\\n    B=2\n",
    )
    .same();
}

#[test]
fn an_unknown_instruction_fails() {
    case("diff-unknown", "FROM busybox\nFOO bar\n").fails("FOO", "unknown instruction: FOO");
}

#[test]
fn a_failing_run_fails_the_build() {
    case("diff-run-fails", "FROM busybox\nRUN exit 3\n").fails("non-zero code: 3", "exit code: 3");
}

// Variables in other instructions

#[test]
fn variables_in_copy_chown_and_destination() {
    case(
        "diff-copy-vars",
        "FROM busybox\nARG U=7\nENV D=/dest\nCOPY --chown=$U:$U f $D/\nVOLUME $D\nUSER ${U}\nWORKDIR $D/w\n",
    )
    .file("f", "f\n")
    // 20.10 leaves --chown out of the history text.
    .current(|_, config| {
        history_text(config, "COPY f /dest/ # buildkit", "COPY --chown=7:7 f /dest/ # buildkit");
    })
    .same();
}

#[test]
fn add_chmod_and_chown() {
    case(
        "diff-add-chmod",
        "FROM busybox\nADD --chmod=700 f /private\nADD --chown=1:2 --chmod=644 dir /d/\n",
    )
    .file("f", "f\n")
    .file("dir/g", "g\n")
    .current(|_, config| {
        history_text(
            config,
            "ADD f /private # buildkit",
            "ADD --chmod=700 f /private # buildkit",
        );
        history_text(
            config,
            "ADD dir /d/ # buildkit",
            "ADD --chown=1:2 --chmod=644 dir /d/ # buildkit",
        );
    })
    .same();
}

#[test]
fn a_stage_inherits_the_config_of_the_stage_it_starts_from() {
    case(
        "diff-stage-config",
        "FROM busybox AS a\nENV X=1\nUSER 5\nWORKDIR /w\nLABEL from=a\nFROM a\nRUN id > /w/id && echo $X > /w/x\nCMD [\"b\"]\n",
    )
    .same();
}

#[test]
fn run_as_a_numeric_user_without_passwd_entry() {
    case(
        "diff-run-uid",
        "FROM busybox\nRUN mkdir -m 777 /shared\nUSER 4321\nRUN id > /shared/id && touch /shared/mine\nUSER 4321:99\nRUN touch /shared/group\n",
    )
    .same();
}

#[test]
fn copy_into_a_directory_that_a_link_points_to() {
    case(
        "diff-copy-through-link",
        "FROM busybox\nRUN mkdir /real && ln -s /real /link\nCOPY f /link/\nCOPY f /link/renamed\n",
    )
    .file("f", "f\n")
    .same();
}

#[test]
fn dockerignore_double_star_in_the_middle_and_character_classes() {
    case("diff-ignore-classes", "FROM busybox\nCOPY . /ctx/\n")
        .file(
            ".dockerignore",
            "a/**/b\n[xy].txt\n!a/keep/**/b\nfile?.log\n",
        )
        .file("a/b", "1\n")
        .file("a/one/two/b", "2\n")
        .file("a/keep/deep/b", "3\n")
        .file("x.txt", "x\n")
        .file("z.txt", "z\n")
        .file("file1.log", "l\n")
        .file("file10.log", "l\n")
        .same();
}

#[test]
fn copy_chown_takes_owners_as_buildkit_file_operations_do() {
    case(
        "diff-copy-chown-unknown",
        "FROM busybox\nRUN echo g:x:5: > /etc/group\nCOPY --chown=nobodyhere:nogroup a /a\nCOPY --chown=1234 a /b\nCOPY --chown=root:55 a /c\nCOPY --chown=root:g a /d\n",
    )
    .file("a", "a\n")
    // Unknown names are root, a lone user ID is also the group. 20.10
    // leaves --chown out of the history text.
    .current(|_, config| {
        for (dest, flag) in [
            ("/a", "nobodyhere:nogroup"),
            ("/b", "1234"),
            ("/c", "root:55"),
            ("/d", "root:g"),
        ] {
            history_text(
                config,
                &format!("COPY a {dest} # buildkit"),
                &format!("COPY --chown={flag} a {dest} # buildkit"),
            );
        }
    })
    .same();
}

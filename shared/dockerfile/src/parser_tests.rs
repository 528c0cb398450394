//! Lines into instructions: directives, comments, continuations, heredocs.

use super::*;

fn instructions(text: &str) -> Vec<RawInstruction> {
    split(text).unwrap().instructions
}

/// (line, keyword, args) of each instruction.
fn summary(text: &str) -> Vec<(usize, String, String)> {
    instructions(text)
        .into_iter()
        .map(|i| (i.line, i.keyword, i.args))
        .collect()
}

fn s(line: usize, keyword: &str, args: &str) -> (usize, String, String) {
    (line, keyword.to_string(), args.to_string())
}

#[test]
fn continuation_lines_join_and_keep_their_indent() {
    let text =
        "FROM alpine\nRUN apt-get update && \\\n    apt-get install -y x \\  \n\tclean\nRUN one\n";
    assert_eq!(
        summary(text),
        [
            s(1, "FROM", "alpine"),
            s(
                2,
                "RUN",
                "apt-get update &&     apt-get install -y x \tclean"
            ),
            s(5, "RUN", "one"),
        ]
    );
}

#[test]
fn comments_inside_continuations_are_skipped() {
    let text = "RUN non-indented \\\n# a comment\n   after-comment\n\
                RUN indented \\\n    # an indented comment\n    comment \\\n  # last\n  end\n";
    assert_eq!(
        summary(text),
        [
            s(1, "RUN", "non-indented    after-comment"),
            s(4, "RUN", "indented     comment   end"),
        ]
    );
    // A `#` that does not start a line is text.
    assert_eq!(
        summary("RUN echo # not a comment"),
        [s(1, "RUN", "echo # not a comment")]
    );
}

#[test]
fn empty_continuation_lines_are_skipped_with_a_warning() {
    let text = "FROM a\nRUN something \\\n\n    following \\\n   \n    more\nRUN another \\\n\n    thing\n";
    let lines = split(text).unwrap();
    let args: Vec<&str> = lines.instructions.iter().map(|i| i.args.as_str()).collect();
    assert_eq!(
        args,
        ["a", "something     following     more", "another     thing"]
    );
    let warned: Vec<usize> = lines.warnings.iter().map(|(line, _)| *line).collect();
    assert_eq!(warned, [2, 7]);
    assert!(lines.warnings[0]
        .1
        .contains("RUN something     following     more"));
}

#[test]
fn escaped_escape_does_not_continue() {
    assert_eq!(
        summary("RUN echo foo\\\\\nRUN next"),
        [s(1, "RUN", "echo foo\\\\"), s(2, "RUN", "next")]
    );
    // A continuation at the end of the file ends the instruction.
    assert_eq!(summary("RUN last \\"), [s(1, "RUN", "last")]);
    // A lone escape on a line continues an instruction.
    assert_eq!(summary("RUN a \\\n\\\nb"), [s(1, "RUN", "a b")]);
}

#[test]
fn backtick_escape_directive() {
    let text =
        "# escape=`\nFROM windows\nRUN dir C:\\ `\n    && echo done\nCOPY a\\ b\\ C:\\dest\\\n";
    let lines = split(text).unwrap();
    assert_eq!(lines.directives.escape, '`');
    let got: Vec<(usize, &str)> = lines
        .instructions
        .iter()
        .map(|i| (i.line, i.args.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "windows"),
            (3, "dir C:\\     && echo done"),
            (5, "a\\ b\\ C:\\dest\\"),
        ]
    );
}

#[test]
fn directives_only_at_the_top() {
    let lines =
        split("# syntax=docker/dockerfile:1\n#ESCAPE = `\n  # check=skip=all\nFROM a\n").unwrap();
    assert_eq!(
        lines.directives.syntax.as_deref(),
        Some("docker/dockerfile:1")
    );
    assert_eq!(lines.directives.escape, '`');
    assert_eq!(lines.directives.check.as_deref(), Some("skip=all"));
    for late in [
        "FROM a\n# escape=`\nRUN x \\\ny",
        "\n# escape=`\nFROM a\nRUN x \\\ny",
        "# a comment\n# escape=`\nFROM a\nRUN x \\\ny",
        "# unknown=1\n# escape=`\nFROM a\nRUN x \\\ny",
    ] {
        let lines = split(late).unwrap();
        assert_eq!(lines.directives, Directives::default(), "{late:?}");
        assert_eq!(lines.instructions.last().unwrap().args, "x y", "{late:?}");
    }
    assert_eq!(
        split("# escape=\\\n# escape=`\nFROM a").unwrap_err(),
        (
            2,
            "only one escape parser directive can be used".to_string()
        )
    );
    assert_eq!(
        split("# escape=x\nFROM a").unwrap_err(),
        (
            1,
            "invalid escape token 'x' does not match ` or \\".to_string()
        )
    );
    assert_eq!(split("#escape=`").unwrap().directives.escape, '`');
    assert_eq!(split("# 1escape=`").unwrap().directives.escape, '\\');
}

#[test]
fn line_endings_bom_and_blank_lines() {
    let text = "\u{feff}FROM a\r\n\r\n   \nRUN b \\\r\n  c\r\n";
    assert_eq!(summary(text), [s(1, "FROM", "a"), s(4, "RUN", "b   c")]);
    let first = &instructions(text)[1];
    assert_eq!(first.original, "RUN b   c");
}

#[test]
fn flags_are_split_off() {
    let copy = &instructions("COPY --from=build --chown=\"a b\" --link src dst")[0];
    assert_eq!(copy.flags, ["--from=build", "--chown=a b", "--link"]);
    assert_eq!(copy.args, "src dst");
    assert_eq!(
        copy.original,
        "COPY --from=build --chown=\"a b\" --link src dst"
    );
    assert_eq!(
        split_command("  run   --mount=type=cache,target=/x   make  "),
        (
            "run".to_string(),
            vec!["--mount=type=cache,target=/x".to_string()],
            "make".to_string()
        )
    );
    assert_eq!(
        split_command("CMD"),
        ("CMD".to_string(), vec![], String::new())
    );
}

#[test]
fn heredoc_bodies_follow_their_line() {
    let text = "FROM a\nRUN <<EOF\n# not a comment\n\necho hi \\\nEOF\nRUN 3<<-'X' cat <<Y\n\tone $A\n\tX\ntwo\nY\nRUN after\n";
    let all = instructions(text);
    let lines: Vec<usize> = all.iter().map(|i| i.line).collect();
    assert_eq!(lines, [1, 2, 7, 12]);
    assert_eq!(all[1].heredocs.len(), 1);
    assert_eq!(all[1].heredocs[0].name, "EOF");
    assert_eq!(
        all[1].heredocs[0].content,
        "# not a comment\n\necho hi \\\n"
    );
    let [x, y] = &all[2].heredocs[..] else {
        panic!("{:?}", all[2].heredocs)
    };
    assert_eq!(
        (x.name.as_str(), x.fd, x.chomp, x.expand),
        ("X", 3, true, false)
    );
    assert_eq!(x.content, "\tone $A\n");
    assert_eq!((y.name.as_str(), y.chomp, y.expand), ("Y", false, true));
    assert_eq!(y.content, "two\n");
    assert_eq!(all[2].args, "3<<-'X' cat <<Y");
    assert_eq!(all[3].args, "after");
}

#[test]
fn heredocs_only_where_docker_reads_them() {
    // JSON form, other instructions, quoted words: no heredoc, so the next
    // lines are instructions.
    for text in [
        "RUN [\"<<EOF\"]\nEOF",
        "USER <<EOF\nEOF",
        "RUN \"<<EOF\"\nEOF",
        "CMD cat <<EOF\nEOF",
    ] {
        let all = instructions(text);
        assert_eq!(all.len(), 2, "{text:?}");
        assert!(all[0].heredocs.is_empty(), "{text:?}");
    }
    let copy = &instructions("COPY <<A <<B /dst\nY\nA\nX\nB\n")[0];
    let bodies: Vec<(&str, &str)> = copy
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(bodies, [("A", "Y\n"), ("B", "X\n")]);
    let onbuild = &instructions("ONBUILD ADD <<EOF /x\nbody\nEOF\n")[0];
    assert_eq!(onbuild.heredocs[0].content, "body\n");
    let run = &instructions("RUN --mount=type=cache,target=/c <<EOF\nmake\nEOF")[0];
    assert_eq!(run.heredocs[0].content, "make\n");
    // Continued lines open heredocs too.
    let continued = &instructions("RUN cat \\\n  <<EOF\nhi\nEOF\n")[0];
    assert_eq!(continued.heredocs[0].content, "hi\n");
}

#[test]
fn unterminated_heredoc_names_its_line() {
    let (line, message) = split("FROM a\nRUN <<EOF\nno end\nEOF \n").unwrap_err();
    assert_eq!(line, 2);
    assert!(message.starts_with("unterminated heredoc"), "{message}");
    // The delimiter line ends it only when it is exactly the delimiter;
    // `<<-` allows leading tabs, not spaces.
    assert!(split("RUN <<-EOF\nx\n  EOF\n").is_err());
    assert!(split("RUN <<-EOF\nx\n\t\tEOF\n").is_ok());
    assert!(split("RUN <<EOF\nx\n\tEOF\n").is_err());
    assert!(split("RUN <<EOF\nx\nEOF\r\n").is_ok());
}

#[test]
fn a_continuation_with_nothing_is_refused() {
    assert_eq!(
        split("FROM a\n\\\n").unwrap_err(),
        (2, "a line continuation with no instruction".to_string())
    );
}

#[test]
fn lines_longer_than_docker_reads_are_refused() {
    let fits = format!("FROM a\nLABEL a={}\n", "x".repeat(MAX_LINE - 8));
    assert!(split(&fits).is_ok());
    let long = format!("FROM a\nLABEL a={}\n", "x".repeat(MAX_LINE - 7));
    assert_eq!(
        split(&long).unwrap_err(),
        (
            2,
            "dockerfile line greater than max allowed size of 65535".to_string()
        )
    );
}

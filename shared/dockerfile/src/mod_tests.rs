//! Whole Dockerfiles: stages, global ARGs, errors with their lines.

use std::collections::HashMap;

use super::*;

const MULTI_STAGE: &str = r#"# syntax=docker/dockerfile:1
ARG GO=1.22
ARG BASE

FROM --platform=$BUILDPLATFORM golang:${GO} AS Build
WORKDIR /src
COPY go.* ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -o /out/app ./cmd/app

FROM ${BASE:-alpine}
COPY --from=build /out/app /usr/local/bin/app
ENTRYPOINT ["app"]
"#;

#[test]
fn stages_and_global_args() {
    let df = parse(MULTI_STAGE).unwrap();
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.escape, '\\');
    let globals: Vec<(usize, &str)> = df
        .global_args
        .iter()
        .map(|a| (a.line, a.original.as_str()))
        .collect();
    assert_eq!(globals, [(2, "ARG GO=1.22"), (3, "ARG BASE")]);
    assert_eq!(df.stages.len(), 2);
    let build = &df.stages[0];
    assert_eq!(
        (build.index, build.name.as_deref(), build.line),
        (0, Some("build"), 5)
    );
    assert_eq!(
        build.from,
        Base {
            image: "golang:${GO}".into(),
            platform: Some("$BUILDPLATFORM".into())
        }
    );
    let lines: Vec<usize> = build.instructions.iter().map(|i| i.line).collect();
    assert_eq!(lines, [6, 7, 8]);
    assert_eq!(
        build.instructions[2].original,
        "RUN --mount=type=cache,target=/root/.cache/go-build     go build -o /out/app ./cmd/app"
    );
    let last = &df.stages[1];
    assert_eq!((last.index, last.name.as_deref(), last.line), (1, None, 11));
    let Instruction::Copy { from, .. } = &last.instructions[0].value else {
        panic!("not a COPY")
    };
    assert_eq!(from.as_deref(), Some("build"));
    assert!(df.warnings.is_empty());
    let globals = HashMap::from([("GO", "1.21"), ("BUILDPLATFORM", "linux/amd64")]);
    let lookup = |n: &str| globals.get(n).map(|v| v.to_string());
    assert_eq!(
        build.from.expand(&lookup, '\\').unwrap(),
        Base {
            image: "golang:1.21".into(),
            platform: Some("linux/amd64".into())
        }
    );
    assert_eq!(last.from.expand(&lookup, '\\').unwrap().image, "alpine");
}

#[test]
fn errors_name_the_line() {
    for (text, want) in [
        (
            "FROM a\nRUN x\n\n# c\nRUN y\nWORKDIR /\nRUNN z\n",
            "Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)",
        ),
        (
            "# c\nRUN x\nFROM a",
            "Dockerfile:2: RUN comes before the first FROM: a Dockerfile starts with FROM (only ARG may come before it)",
        ),
        (
            "ARG A\nARG B\n",
            "Dockerfile:2: the file has no FROM: there is no stage to build",
        ),
        (
            "\n# just a comment\n",
            "Dockerfile:1: the file has no instructions: a Dockerfile needs at least a FROM line",
        ),
        (
            "FROM a AS x\nFROM b AS X\n",
            "Dockerfile:2: duplicate stage name \"x\" (first used on line 1): give each stage its own name",
        ),
        (
            "FROM a\nCOPY \\\n  only-one\n",
            "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (
            "FROM a\nRUN <<EOF\nmake\n",
            "Dockerfile:2: unterminated heredoc: no line \"EOF\" ends the heredoc opened here",
        ),
        (
            "# escape=x\nFROM a\n",
            "Dockerfile:1: invalid escape token 'x' does not match ` or \\",
        ),
        ("FROM a\nFROM\n", "Dockerfile:2: FROM requires either one or three arguments"),
        (
            "FROM a\nONBUILD FROM b\n",
            "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{text:?}");
        assert_eq!(err.to_string(), want, "{text:?}");
    }
    let err = parse_named("build/Containerfile", "FROM a\nCPY x y").unwrap_err();
    assert_eq!(
        err.to_string(),
        "build/Containerfile:2: unknown instruction: CPY (did you mean COPY?)"
    );
}

#[test]
fn instructions_are_case_insensitive() {
    let df = parse("from a as B\nrun x\nCoPy a b\nenv A=1\n").unwrap();
    let keywords: Vec<&str> = df.stages[0]
        .instructions
        .iter()
        .map(|i| i.value.keyword())
        .collect();
    assert_eq!(keywords, ["RUN", "COPY", "ENV"]);
    assert_eq!(df.stages[0].name.as_deref(), Some("b"));
}

#[test]
fn warnings_carry_the_file_and_line() {
    let df = parse("FROM a\nRUN x \\\n\n  y\n").unwrap();
    assert_eq!(df.warnings.len(), 1);
    assert!(
        df.warnings[0].starts_with("Dockerfile:2: empty continuation line"),
        "{:?}",
        df.warnings
    );
    assert_eq!(df.stages[0].instructions[0].original, "RUN x   y");
}

#[test]
fn backtick_dockerfile() {
    let text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n    && echo `$done\n";
    let df = parse(text).unwrap();
    assert_eq!(df.directives.escape, '`');
    let [copy, run] = &df.stages[0].instructions[..] else {
        panic!("{:?}", df.stages[0].instructions)
    };
    let Instruction::Copy { dest, .. } = copy.value.expand(&|_| None, '`').unwrap() else {
        panic!("not a COPY")
    };
    assert_eq!(dest, "c:\\");
    assert_eq!(
        run.value,
        Instruction::Run {
            command: Command::Shell("dir c:\\     && echo `$done".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        }
    );
}

#[test]
fn single_instructions() {
    let located = parse_instruction("  ENV A=1  ").unwrap();
    assert_eq!((located.line, located.original.as_str()), (1, "ENV A=1"));
    for (text, why) in [
        ("", "no instruction given"),
        ("# only a comment", "no instruction given"),
        (
            "ENV A=1\nENV B=2",
            "more than one instruction given; give one at a time",
        ),
        (
            "FROM x",
            "FROM starts a stage; it is not an instruction to apply",
        ),
        ("ENVV A=1", "unknown instruction: ENVV (did you mean ENV?)"),
    ] {
        assert_eq!(
            parse_instruction(text).unwrap_err().to_string(),
            why,
            "{text:?}"
        );
    }
}

//! Every instruction's forms, flags and errors.

use super::*;
use crate::parse_instruction;

fn read(text: &str) -> Instruction {
    parse_instruction(text).unwrap().value
}

fn error(text: &str) -> String {
    parse_instruction(text).unwrap_err().to_string()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn run_forms_and_flags() {
    assert_eq!(
        read("RUN echo \"$HOME\" && ls"),
        Instruction::Run {
            command: Command::Shell("echo \"$HOME\" && ls".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        }
    );
    assert_eq!(
        read(
            r#"run --mount=type=cache,target=/root/.cache --mount=type=secret,id=x --network=none --security=insecure ["make", "all"]"#
        ),
        Instruction::Run {
            command: Command::Exec(strings(&["make", "all"])),
            heredocs: vec![],
            mounts: strings(&["type=cache,target=/root/.cache", "type=secret,id=x"]),
            network: Some("none".into()),
            security: Some("insecure".into()),
        }
    );
    // Not valid JSON: the shell form, brackets and all.
    assert_eq!(
        read("RUN [ -f x ] && echo"),
        Instruction::Run {
            command: Command::Shell("[ -f x ] && echo".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        }
    );
    for (text, why) in [
        ("RUN", "RUN requires at least one argument"),
        ("RUN []", "RUN requires at least one argument"),
        ("RUN --mount=x", "RUN requires at least one argument"),
        (
            "RUN [\"a\", 1]",
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        ("RUN --device=/dev/x make", "unknown flag: --device"),
        (
            "RUN --network=a --network=b make",
            "duplicate flag specified: --network",
        ),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn cmd_entrypoint_and_shell() {
    assert_eq!(
        read("CMD [\"sh\"]"),
        Instruction::Cmd(Command::Exec(strings(&["sh"])))
    );
    assert_eq!(read("CMD []"), Instruction::Cmd(Command::Exec(vec![])));
    assert_eq!(
        read("CMD sh -c 'x y'"),
        Instruction::Cmd(Command::Shell("sh -c 'x y'".into()))
    );
    assert_eq!(
        read("ENTRYPOINT [\"/e\", \"a b\"]"),
        Instruction::Entrypoint(Command::Exec(strings(&["/e", "a b"])))
    );
    assert_eq!(
        read("entrypoint top -b"),
        Instruction::Entrypoint(Command::Shell("top -b".into()))
    );
    assert_eq!(
        read(r#"SHELL ["powershell", "-command"]"#),
        Instruction::Shell(strings(&["powershell", "-command"]))
    );
    for (text, why) in [
        ("CMD", "CMD requires at least one argument"),
        ("ENTRYPOINT", "ENTRYPOINT requires at least one argument"),
        ("SHELL", "SHELL requires at least one argument"),
        ("SHELL []", "SHELL requires at least one argument"),
        (
            "SHELL /bin/bash -c",
            "SHELL requires the arguments to be in JSON form",
        ),
        ("CMD --x [\"a\"]", "unknown flag: --x"),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn copy_sources_destination_and_flags() {
    assert_eq!(
        read("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git a b/ /dst/"),
        Instruction::Copy {
            sources: strings(&["a", "b/"]),
            dest: "/dst/".into(),
            heredocs: vec![],
            from: Some("build".into()),
            chown: Some("app:app".into()),
            chmod: Some("0755".into()),
            link: true,
            parents: true,
            exclude: strings(&["*.md", ".git"]),
        }
    );
    let Instruction::Copy {
        sources,
        dest,
        link,
        from,
        ..
    } = read(r#"COPY --link=false ["a b", "c"]"#)
    else {
        panic!("not a COPY")
    };
    assert_eq!(
        (sources, dest, link, from),
        (strings(&["a b"]), "c".into(), false, None)
    );
    let Instruction::Copy {
        sources, heredocs, ..
    } = read("COPY <<EOF x <<'RAW' /dst/\nhello $A\nEOF\nraw\nRAW\n")
    else {
        panic!("not a COPY")
    };
    assert_eq!(sources, ["x"]);
    let names: Vec<(&str, &str, bool)> = heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str(), h.expand))
        .collect();
    assert_eq!(
        names,
        [("EOF", "hello $A\n", true), ("RAW", "raw\n", false)]
    );
    for (text, why) in [
        ("COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("COPY", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
        ("COPY --checksum=sha256:x a b", "unknown flag: --checksum"),
        ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
        ("COPY --from a b", "missing a value on flag: --from"),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn add_flags() {
    assert_eq!(
        read("ADD --checksum=sha256:abc --keep-git-dir --chown=1 --chmod=644 --unpack=false https://x/y.tgz /opt/"),
        Instruction::Add {
            sources: strings(&["https://x/y.tgz"]),
            dest: "/opt/".into(),
            heredocs: vec![],
            chown: Some("1".into()),
            chmod: Some("644".into()),
            checksum: Some("sha256:abc".into()),
            keep_git_dir: true,
            link: false,
            unpack: Some(false),
            exclude: vec![],
        }
    );
    let Instruction::Add { unpack, link, .. } = read("ADD --link a b") else {
        panic!("not an ADD")
    };
    assert_eq!((unpack, link), (None, true));
    assert_eq!(error("ADD --from=x a b"), "unknown flag: --from");
    assert_eq!(error("ADD --parents a b"), "unknown flag: --parents");
}

#[test]
fn env_label_and_arg() {
    assert_eq!(
        read(r#"ENV A=1 B="two words" C=x\ y"#),
        Instruction::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "x\\ y".into()),
        ])
    );
    assert_eq!(
        read("ENV KEY some value"),
        Instruction::Env(vec![("KEY".into(), "some value".into())])
    );
    assert_eq!(
        read(r#"LABEL "com.example.vendor"="ACME" version=1.0 empty="#),
        Instruction::Label(vec![
            ("\"com.example.vendor\"".into(), "\"ACME\"".into()),
            ("version".into(), "1.0".into()),
            ("empty".into(), String::new()),
        ])
    );
    assert_eq!(
        read("ARG A B=2 C=\"x y\""),
        Instruction::Arg(vec![
            ("A".into(), None),
            ("B".into(), Some("2".into())),
            ("C".into(), Some("\"x y\"".into())),
        ])
    );
    for (text, why) in [
        ("ENV", "ENV requires at least one argument"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("ENV ONLYKEY", "ENV must have two arguments"),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL =x", "LABEL names can not be blank"),
        ("ARG =x", "ARG names can not be blank"),
        (
            "ENV a=1 b",
            r#"Syntax error - can't find = in "b". Must be of the form: name=value"#,
        ),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn single_argument_instructions() {
    assert_eq!(
        read("WORKDIR /my dir"),
        Instruction::Workdir("/my dir".into())
    );
    assert_eq!(read("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(
        read("STOPSIGNAL SIGKILL"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        read("MAINTAINER Jane <jane@example.com>"),
        Instruction::Maintainer("Jane <jane@example.com>".into())
    );
    for keyword in ["WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"] {
        assert_eq!(
            error(keyword),
            format!("{keyword} requires exactly one argument")
        );
    }
    assert_eq!(
        error("MAINTAINER --boo joe@example.com"),
        "unknown flag: --boo"
    );
}

#[test]
fn expose_and_volume() {
    assert_eq!(
        read("EXPOSE 8000-8002 53/udp 80"),
        Instruction::Expose(strings(&["53/udp", "80", "8000-8002"]))
    );
    assert_eq!(
        read("VOLUME /a  /b"),
        Instruction::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(
        read(r#"VOLUME [" /a b ", "/c"]"#),
        Instruction::Volume(strings(&["/a b", "/c"]))
    );
    for (text, why) in [
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("VOLUME []", "VOLUME requires at least one argument"),
        (
            r#"VOLUME ["/a", " "]"#,
            "VOLUME specified can not be an empty string",
        ),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn onbuild_triggers() {
    let Instruction::Onbuild(trigger) = read("ONBUILD  COPY --chown=a . /src") else {
        panic!("not an ONBUILD")
    };
    assert_eq!(trigger.original, "COPY --chown=a . /src");
    assert_eq!(trigger.value.keyword(), "COPY");
    let Instruction::Onbuild(trigger) = read("onbuild run <<EOF\nmake\nEOF") else {
        panic!("not an ONBUILD")
    };
    let Instruction::Run { heredocs, .. } = &trigger.value else {
        panic!("not a RUN")
    };
    assert_eq!(heredocs[0].content, "make\n");
    for (text, why) in [
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD from scratch", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("ONBUILD --x RUN a", "unknown flag: --x"),
        ("ONBUILD COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ONBUILD RUNN a", "unknown instruction: RUNN (did you mean RUN?)"),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
}

#[test]
fn unknown_instructions_suggest_the_nearest() {
    for (text, why) in [
        ("RUNN x", "unknown instruction: RUNN (did you mean RUN?)"),
        ("cpy a b", "unknown instruction: cpy (did you mean COPY?)"),
        (
            "ENTRYPIONT x",
            "unknown instruction: ENTRYPIONT (did you mean ENTRYPOINT?)",
        ),
        ("FOO bar", "unknown instruction: FOO"),
        ("foo bar", "unknown instruction: foo"),
        ("HELLOWORLD", "unknown instruction: HELLOWORLD"),
    ] {
        assert_eq!(error(text), why, "{text}");
    }
    assert_eq!(distance("kitten", "sitting"), 3);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("same", "same"), 0);
}

#[test]
fn from_lines() {
    let raw = |text: &str| parser::split(text).unwrap().instructions.remove(0);
    assert_eq!(
        base(&raw(
            "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build-1.x"
        ))
        .unwrap(),
        (
            Base {
                image: "golang:1.22".into(),
                platform: Some("$BUILDPLATFORM".into())
            },
            Some("build-1.x".into())
        )
    );
    assert_eq!(
        base(&raw("from scratch")).unwrap(),
        (
            Base {
                image: "scratch".into(),
                platform: None
            },
            None
        )
    );
    for (text, why) in [
        ("FROM", "FROM requires either one or three arguments"),
        ("FROM a b", "FROM requires either one or three arguments"),
        ("FROM a TO b", "FROM requires either one or three arguments"),
        ("FROM a AS 1st", "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM a AS b/c", "invalid name for build stage: \"b/c\", name can't start with a number or contain symbols"),
        ("FROM --arch=x a", "unknown flag: --arch"),
    ] {
        assert_eq!(base(&raw(text)).unwrap_err(), why, "{text}");
    }
}

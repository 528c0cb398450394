//! Config changes applied as Docker applies them.

use super::*;

fn applied(changes: &[&str]) -> Value {
    let mut config = Map::new();
    let changes: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    apply_all(&mut config, &changes).unwrap();
    Value::Object(config)
}

#[test]
fn applies_each_instruction() {
    let c = applied(&[
        r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
        "ENTRYPOINT /entry.sh --flag",
        r#"ENV A=1 B="two words" C=x\ y"#,
        "ENV LEGACY some value",
        "ENV A=3",
        "EXPOSE 80 53/udp 8000-8001",
        r#"LABEL version="1.0" team=core"#,
        "USER app:app",
        r#"VOLUME ["/data", "/logs"]"#,
        "VOLUME /cache",
        "WORKDIR /srv",
        "WORKDIR app",
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK --retries=2 CMD true",
        "onbuild RUN make",
        "ONBUILD COPY . /src",
    ]);
    assert_eq!(
        c["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Retries": 2})
    );
    assert_eq!(c["OnBuild"], json!(["RUN make", "COPY . /src"]));
    // CMD set before ENTRYPOINT in the same list stays.
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(
        c["Entrypoint"],
        json!(["/bin/sh", "-c", "/entry.sh --flag"])
    );
    // Docker replaces a variable where it stands (A stays first).
    assert_eq!(
        c["Env"],
        json!(["A=3", "B=two words", "C=x y", "LEGACY=some value"])
    );
    assert_eq!(
        c["ExposedPorts"],
        json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
    );
    assert_eq!(c["Labels"], json!({"version": "1.0", "team": "core"}));
    assert_eq!(c["User"], "app:app");
    assert_eq!(
        c["Volumes"],
        json!({"/data": {}, "/logs": {}, "/cache": {}})
    );
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["StopSignal"], "SIGINT");
}

#[test]
fn refuses_other_instructions_and_bad_syntax() {
    let mut config = Map::new();
    for bad in [
        "RUN echo hi",
        "FROM busybox",
        "SHELL [\"/bin/bash\", \"-c\"]",
        "CMD",
        "CMD [1]",
        "EXPOSE 99999",
        "EXPOSE 80/xyz",
        "EXPOSE 90-80",
        "EXPOSE +80",
        "LABEL novalue",
        "ENV A=\"unterminated",
        "ONBUILD ONBUILD RUN x",
        "ONBUILD FROM busybox",
        "HEALTHCHECK RUN true",
        "WORKDIR ${NOPE:?give a directory}",
        "USER --who=me app",
        "CMD a\nCMD b",
    ] {
        let err = apply(&mut config, bad).unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{bad}");
        assert!(err.to_string().starts_with("--change "), "{err}");
    }
    assert!(config.is_empty(), "{config:?}");
    let err = apply(&mut config, "EXPOSE http").unwrap_err().to_string();
    assert_eq!(
        err,
        "--change \"EXPOSE http\": EXPOSE http: invalid containerPort: http (ports are 0-65535)"
    );
}

#[test]
fn expands_against_the_configs_own_env() {
    let mut config = Map::new();
    config.insert(
        "Env".into(),
        json!(["PATH=/usr/bin", "HOME=/root", "PORT=8080", "HOME=/home/app"]),
    );
    config.insert("WorkingDir".into(), json!("/srv"));
    let changes: Vec<String> = [
        "ENV PATH=/opt/bin:$PATH",
        "WORKDIR $HOME/../data",
        "EXPOSE $PORT ${UDP:-53}/udp",
        "LABEL home=${HOME} literal='$HOME'",
        "CMD echo $HOME",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    apply_all(&mut config, &changes).unwrap();
    assert_eq!(
        config["Env"],
        json!([
            "PATH=/opt/bin:/usr/bin",
            "HOME=/root",
            "PORT=8080",
            "HOME=/home/app"
        ])
    );
    assert_eq!(config["WorkingDir"], "/home/app/../data");
    assert_eq!(
        config["ExposedPorts"],
        json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(
        config["Labels"],
        json!({"home": "/home/app", "literal": "$HOME"})
    );
    // The shell expands CMD when the container runs, not the builder.
    assert_eq!(config["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
}

#[test]
fn entrypoint_clears_an_inherited_cmd() {
    let mut config = Map::new();
    config.insert("Cmd".into(), json!(["sh"]));
    apply(&mut config, r#"ENTRYPOINT ["/entry"]"#).unwrap();
    assert_eq!(config.get("Cmd"), None);
    assert_eq!(config["Entrypoint"], json!(["/entry"]));
    apply(&mut config, "ENTRYPOINT []").unwrap();
    assert_eq!(config.get("Entrypoint"), None);
    apply(&mut config, "CMD []").unwrap();
    assert_eq!(config.get("Cmd"), None);
}

#[test]
fn the_editor_applies_build_instructions() {
    let mut config = Map::new();
    config.insert("WorkingDir".into(), json!("/a/b"));
    let mut editor = Editor::new(&mut config);
    for text in [
        r#"SHELL ["/bin/bash", "-o", "pipefail", "-c"]"#,
        "CMD make all",
        "WORKDIR ../c/./d",
        "HEALTHCHECK NONE",
        "ONBUILD RUN <<EOF\necho $X\nEOF",
    ] {
        let instruction = dockerfile::parse_instruction(text).unwrap().value;
        editor.apply(&instruction).unwrap();
    }
    for text in ["RUN make", "COPY a b", "ARG X", "MAINTAINER me", "ADD a b"] {
        let instruction = dockerfile::parse_instruction(text).unwrap().value;
        let err = editor.apply(&instruction).unwrap_err().to_string();
        assert!(err.ends_with("does not change the image config"), "{err}");
    }
    assert_eq!(
        config["Shell"],
        json!(["/bin/bash", "-o", "pipefail", "-c"])
    );
    assert_eq!(
        config["Cmd"],
        json!(["/bin/bash", "-o", "pipefail", "-c", "make all"])
    );
    assert_eq!(config["WorkingDir"], "/a/c/d");
    assert_eq!(config["Healthcheck"], json!({"Test": ["NONE"]}));
    assert_eq!(config["OnBuild"], json!(["RUN <<EOF\necho $X\nEOF"]));
}

#[test]
fn port_specs_as_docker_reads_them() {
    for (spec, want) in [
        ("80", &["80/tcp"][..]),
        ("80/UDP", &["80/udp"]),
        ("132/sctp", &["132/sctp"]),
        ("8000-8002", &["8000/tcp", "8001/tcp", "8002/tcp"]),
        ("8080:80", &["80/tcp"]),
        ("127.0.0.1:8080:80/udp", &["80/udp"]),
        ("[::1]:8080:80", &["80/tcp"]),
        ("9000-9001:80", &["80/tcp"]),
        ("0", &["0/tcp"]),
    ] {
        assert_eq!(exposed_ports(spec).unwrap(), want, "{spec}");
    }
    for bad in [
        "",
        "/tcp",
        "80/http",
        "65536",
        "a-b",
        "1-2-3",
        "nothost:80:80",
        "8000-8001:80-85",
        "-1",
    ] {
        assert!(exposed_ports(bad).is_err(), "{bad:?}");
    }
}

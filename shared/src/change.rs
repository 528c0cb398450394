//! Config changes written as Dockerfile instructions (`docker import
//! --change`, `docker commit --change`): CMD, ENTRYPOINT, ENV, EXPOSE,
//! HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR and STOPSIGNAL — the
//! set Docker allows there — parsed with Dockerfile's
//! syntax (JSON or shell form, `key=value` pairs with quotes, the legacy
//! `ENV key value` form) and applied to the `config` object of an image
//! config, under Docker's field names.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::healthcheck;

/// The instructions a change may use.
pub const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
];

/// Apply every instruction of `changes`, in order, to a config's `config`
/// object; the first bad one is the error.
pub fn apply_all(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    changes.iter().try_for_each(|c| apply(config, c))
}

/// Apply one instruction (`CMD ["sh"]`, `ENV A=1`) to an image config's
/// `config` object.
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let text = change.trim();
    let (keyword, args) = match text.split_once(char::is_whitespace) {
        Some((k, rest)) => (k, rest.trim()),
        None => (text, ""),
    };
    let bad = |why: &str| Error::invalid(format!("--change {change:?}: {why}"));
    let keyword = keyword.to_ascii_uppercase();
    if !ALLOWED.contains(&keyword.as_str()) {
        return Err(bad(&format!(
            "{keyword} is not a valid change instruction; use one of {}",
            ALLOWED.join(", ")
        )));
    }
    if args.is_empty() {
        return Err(bad(&format!("{keyword} needs an argument")));
    }
    match keyword.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command_form(args)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command_form(args)));
        }
        "ENV" => {
            let mut env: Vec<String> = string_list(config.get("Env"));
            for (key, value) in pairs(args, true).map_err(|e| bad(&e))? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                env.push(format!("{key}={value}"));
            }
            config.insert("Env".into(), json!(env));
        }
        "LABEL" => {
            let labels = object(config, "Labels");
            for (key, value) in pairs(args, false).map_err(|e| bad(&e))? {
                labels.insert(key, json!(value));
            }
        }
        "EXPOSE" => {
            let mut ports = Vec::new();
            for word in words(args).map_err(|e| bad(&e))? {
                ports.extend(expose(&word).map_err(|e| bad(&e))?);
            }
            let exposed = object(config, "ExposedPorts");
            for port in ports {
                exposed.insert(port, json!({}));
            }
        }
        "VOLUME" => {
            let paths = match json_array(args) {
                Some(list) => list,
                None => words(args).map_err(|e| bad(&e))?,
            };
            let volumes = object(config, "Volumes");
            for path in paths {
                if path.is_empty() {
                    return Err(bad("VOLUME specified can not be an empty string"));
                }
                volumes.insert(path, json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), json!(args));
        }
        "WORKDIR" => {
            let dir = unquote(args).map_err(|e| bad(&e))?;
            let dir = if dir.starts_with('/') {
                dir
            } else {
                let base = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .filter(|b| !b.is_empty())
                    .unwrap_or("/");
                format!("{}/{dir}", base.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(dir));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(args));
        }
        "HEALTHCHECK" => {
            config.insert(
                "Healthcheck".into(),
                healthcheck::parse(args).map_err(|e| bad(&e))?,
            );
        }
        "ONBUILD" => {
            let trigger = args
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(&match trigger.as_str() {
                    "ONBUILD" => "ONBUILD ONBUILD isn't allowed".to_string(),
                    _ => format!("{trigger} isn't allowed as an ONBUILD trigger"),
                }));
            }
            let mut triggers = string_list(config.get("OnBuild"));
            triggers.push(args.to_string());
            config.insert("OnBuild".into(), json!(triggers));
        }
        // ALLOWED was checked above.
        _ => return Err(bad("unsupported instruction")),
    }
    Ok(())
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn object<'m>(config: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = config.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(map) => map,
        // Made an object just above.
        _ => unreachable!("slot is an object"),
    }
}

/// The exec form (a JSON array of strings) or the shell form, which runs
/// under `/bin/sh -c` as in a Dockerfile.
fn command_form(args: &str) -> Vec<String> {
    json_array(args).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), args.to_string()])
}

fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// Split on unquoted whitespace; quotes group and are removed, a backslash
/// escapes the next character (except inside single quotes).
fn words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some(next) => word.push(next),
                    None => word.push('\\'),
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unmatched quote".into());
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

fn unquote(text: &str) -> std::result::Result<String, String> {
    Ok(words(text)?.join(" "))
}

/// `key=value` pairs; for ENV also the legacy `key value…` form.
fn pairs(args: &str, legacy: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let first = args.split_whitespace().next().unwrap_or_default();
    if legacy && !first.contains('=') {
        let value = args[first.len()..].trim();
        if value.is_empty() {
            return Err(format!(
                "ENV {first} needs a value (ENV KEY=VALUE or ENV KEY VALUE)"
            ));
        }
        return Ok(vec![(first.to_string(), unquote(value)?)]);
    }
    words(args)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` as `port/proto` keys.
fn expose(word: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in EXPOSE {word}"));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid port {p:?} in EXPOSE {word}"))
    };
    let (low, high) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if high < low {
        return Err(format!("invalid port range in EXPOSE {word}"));
    }
    Ok((low..=high).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut config = Map::new();
        for c in changes {
            apply(&mut config, c).unwrap();
        }
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
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(
            c["Entrypoint"],
            json!(["/bin/sh", "-c", "/entry.sh --flag"])
        );
        assert_eq!(
            c["Env"],
            json!(["B=two words", "C=x y", "LEGACY=some value", "A=3"])
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
            "CMD",
            "EXPOSE 99999",
            "EXPOSE 80/xyz",
            "LABEL novalue",
            "ENV A=\"unterminated",
            "ONBUILD ONBUILD RUN x",
            "ONBUILD FROM busybox",
            "HEALTHCHECK RUN true",
        ] {
            let err = apply(&mut config, bad).unwrap_err();
            assert_eq!(err.kind(), crate::Kind::InvalidInput, "{bad}");
        }
    }
}

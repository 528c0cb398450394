//! A container's process from its image config and `docker run`'s flags:
//! the command (ENTRYPOINT and CMD, as `--entrypoint` and the arguments
//! after the image override them), the environment (the image's `Env`, a
//! default `PATH`, `HOSTNAME`, `HOME`, `TERM` for a terminal, and `-e` /
//! `--env-file` on top), the working directory and the user — Docker's
//! rules, in one place for img-run and img-build's RUN.

use std::path::Path;

use serde_json::Value;

use img_core::error::{Error, IoContext, Result};

/// The `PATH` a container gets when its image sets none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What runs in the container, before the user is resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Process {
    /// The arguments: entrypoint, then command.
    pub args: Vec<String>,
    /// `KEY=value` pairs, each key once.
    pub env: Vec<String>,
    /// The working directory (absolute).
    pub cwd: String,
    /// `USER` as written (`name`, `uid`, `name:group`; empty: root).
    pub user: String,
}

/// `docker run`'s overrides of the image config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// The arguments after the image (replace CMD).
    pub command: Vec<String>,
    /// `-e KEY=value` or `-e KEY` (taken from img's environment).
    pub env: Vec<String>,
    /// `--env-file` contents, already read: lines of the same forms.
    pub env_files: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
}

/// The string list at `key` of an image config's `config` object.
pub fn strings(config: &Value, key: &str) -> Vec<String> {
    img_core::json::strings(config.get(key))
}

/// The process for the image config `config` (its `config` object) and
/// the overrides; the hostname and terminal go into the environment.
pub fn resolve(
    config: &Value,
    overrides: &Overrides,
    hostname: &str,
    tty: bool,
) -> Result<Process> {
    let entrypoint = match &overrides.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => strings(config, "Entrypoint"),
    };
    let command = if !overrides.command.is_empty() {
        overrides.command.clone()
    } else if overrides.entrypoint.is_some() {
        // A new entrypoint drops the image's CMD, as Docker does.
        Vec::new()
    } else {
        strings(config, "Cmd")
    };
    let args: Vec<String> = entrypoint.into_iter().chain(command).collect();
    if args.is_empty() {
        return Err(Error::invalid(
            "no command specified: the image has no ENTRYPOINT or CMD; give a command after the image",
        ));
    }
    let mut env = Vec::new();
    set(&mut env, &format!("PATH={DEFAULT_PATH}"));
    set(&mut env, &format!("HOSTNAME={hostname}"));
    if tty {
        set(&mut env, "TERM=xterm");
    }
    for e in strings(config, "Env") {
        set(&mut env, &e);
    }
    for line in overrides.env_files.iter().chain(&overrides.env) {
        if let Some(pair) = env_entry(line) {
            set(&mut env, &pair);
        }
    }
    let cwd = overrides
        .workdir
        .clone()
        .or_else(|| {
            config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(Error::invalid(format!(
            "the working directory {cwd:?} is invalid: it needs to be an absolute path"
        )));
    }
    let user = overrides
        .user
        .clone()
        .or_else(|| config.get("User").and_then(Value::as_str).map(String::from))
        .unwrap_or_default();
    Ok(Process {
        args,
        env,
        cwd,
        user,
    })
}

/// Add `HOME` from the user's home directory, unless the environment has one.
pub fn add_home(env: &mut Vec<String>, home: &str) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
}

/// Set `KEY=value` in `env`, replacing an earlier value of KEY in place.
pub fn set(env: &mut Vec<String>, pair: &str) {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(existing) => *existing = pair.to_string(),
        None => env.push(pair.to_string()),
    }
}

/// One `-e` / `--env-file` entry as `KEY=value`: `KEY` alone takes img's
/// own value, and is left out when img has none, as Docker does.
fn env_entry(text: &str) -> Option<String> {
    if text.contains('=') {
        return Some(text.to_string());
    }
    let key = text.trim();
    std::env::var(key).ok().map(|v| format!("{key}={v}"))
}

/// The entries of an env file: `KEY=value` or `KEY` lines; blank lines
/// and `#` comments skipped.
pub fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .io_context(|| format!("reading env file {}", path.display()))?;
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "{}:{}: variable {key:?} contains whitespaces or is empty",
                path.display(),
                n + 1
            )));
        }
        entries.push(line.to_string());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entrypoint_and_cmd_as_docker_combines_them() {
        let config = json!({"Entrypoint": ["/init"], "Cmd": ["serve"], "Env": ["A=1"]});
        let none = Overrides::default();
        assert_eq!(
            resolve(&config, &none, "h", false).unwrap().args,
            ["/init", "serve"]
        );
        let args = Overrides {
            command: vec!["other".into()],
            ..Overrides::default()
        };
        assert_eq!(
            resolve(&config, &args, "h", false).unwrap().args,
            ["/init", "other"]
        );
        let entry = Overrides {
            entrypoint: Some("sh".into()),
            ..Overrides::default()
        };
        assert_eq!(resolve(&config, &entry, "h", false).unwrap().args, ["sh"]);
        let cleared = Overrides {
            entrypoint: Some(String::new()),
            command: vec!["ls".into()],
            ..Overrides::default()
        };
        assert_eq!(resolve(&config, &cleared, "h", false).unwrap().args, ["ls"]);
        let empty = json!({});
        let err = resolve(&empty, &none, "h", false).unwrap_err();
        assert!(err.to_string().contains("no command specified"));
    }

    #[test]
    fn environment_layers_image_defaults_and_flags() {
        let config = json!({"Cmd": ["sh"], "Env": ["PATH=/opt/bin", "A=1", "B=2"]});
        std::env::set_var("IMG_TEST_FROM_HOST", "host");
        let overrides = Overrides {
            env: vec![
                "B=3".into(),
                "IMG_TEST_FROM_HOST".into(),
                "IMG_TEST_UNSET_XYZ".into(),
            ],
            env_files: vec!["C=4".into()],
            ..Overrides::default()
        };
        let p = resolve(&config, &overrides, "abc", true).unwrap();
        assert_eq!(
            p.env,
            [
                "PATH=/opt/bin",
                "HOSTNAME=abc",
                "TERM=xterm",
                "A=1",
                "B=3",
                "C=4",
                "IMG_TEST_FROM_HOST=host"
            ]
        );
        let mut env = p.env.clone();
        add_home(&mut env, "/root");
        assert!(env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn workdir_and_user_come_from_flags_then_image() {
        let config = json!({"Cmd": ["sh"], "WorkingDir": "/app", "User": "www"});
        let p = resolve(&config, &Overrides::default(), "h", false).unwrap();
        assert_eq!((p.cwd.as_str(), p.user.as_str()), ("/app", "www"));
        let o = Overrides {
            workdir: Some("/tmp".into()),
            user: Some("0:0".into()),
            ..Overrides::default()
        };
        let p = resolve(&config, &o, "h", false).unwrap();
        assert_eq!((p.cwd.as_str(), p.user.as_str()), ("/tmp", "0:0"));
        let bad = Overrides {
            workdir: Some("rel".into()),
            ..Overrides::default()
        };
        assert!(resolve(&config, &bad, "h", false).is_err());
    }

    #[test]
    fn env_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        std::fs::write(&path, "# comment\n\nA=1\nB\n").unwrap();
        assert_eq!(read_env_file(&path).unwrap(), ["A=1", "B"]);
        std::fs::write(&path, "BAD KEY=1\n").unwrap();
        assert!(read_env_file(&path)
            .unwrap_err()
            .to_string()
            .contains(":1:"));
    }
}

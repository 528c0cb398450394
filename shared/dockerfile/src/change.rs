//! Config changes written as Dockerfile instructions (`docker import
//! --change`, `docker commit --change`), and the config side of a build:
//! how CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL,
//! STOPSIGNAL, USER, VOLUME and WORKDIR change the `config` object of an
//! image config, under Docker's field names.
//!
//! A change is read by [`crate`] like any Dockerfile line, its
//! words expanded against the config's own `Env` as Docker does, and
//! applied by an [`Editor`]. The build executor applies its instructions
//! with the same [`Editor`], one per stage, so a build and a commit change
//! the config the same way. The editor remembers whether CMD was set, as
//! Docker's builder does: ENTRYPOINT clears an inherited CMD, not one set
//! before it in the same stage (or list of changes).

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::{self as dockerfile, Command, Instruction};
use img_core::error::{Error, Result};
use img_core::json::strings;

/// The instructions a `--change` may use (SHELL is a build instruction
/// Docker does not take there).
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
    let mut editor = Editor::new(config);
    changes.iter().try_for_each(|c| editor.apply_change(c))
}

/// Apply one instruction (`CMD ["sh"]`, `ENV A=1`) to an image config's
/// `config` object.
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    Editor::new(config).apply_change(change)
}

/// Applies instructions to the `config` object of an image config, in
/// order, as one Dockerfile stage (or one list of changes) does.
pub struct Editor<'c> {
    config: &'c mut Map<String, Value>,
    /// Whether CMD was set by an instruction applied here.
    cmd_set: bool,
}

impl<'c> Editor<'c> {
    /// An editor of `config` (the `config` object, not the whole image
    /// config).
    pub fn new(config: &'c mut Map<String, Value>) -> Self {
        Editor {
            config,
            cmd_set: false,
        }
    }

    /// An editor that continues a stage whose earlier instructions
    /// `cmd_set` (or did not set) CMD: the build applies each step with an
    /// editor of its own.
    pub fn with_cmd_set(config: &'c mut Map<String, Value>, cmd_set: bool) -> Self {
        Editor { config, cmd_set }
    }

    /// Whether an instruction applied so far (or before, see
    /// [`Editor::with_cmd_set`]) set CMD.
    pub fn cmd_set(&self) -> bool {
        self.cmd_set
    }

    /// Apply one `--change`: check it is one Docker allows, read it, expand
    /// it against the config's `Env`, apply it.
    fn apply_change(&mut self, change: &str) -> Result<()> {
        let bad =
            |why: &dyn std::fmt::Display| Error::invalid(format!("--change {change:?}: {why}"));
        let keyword = change
            .trim()
            .split(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !ALLOWED.contains(&keyword.as_str()) {
            return Err(bad(&format!(
                "{keyword} is not a valid change instruction; use one of {}",
                ALLOWED.join(", ")
            )));
        }
        let instruction = dockerfile::parse_instruction(change).map_err(|e| bad(&e))?;
        let env = self.env();
        let lookup = |name: &str| env_value(&env, name);
        let expanded = instruction
            .value
            .expand(&lookup, '\\')
            .map_err(|e| bad(&e))?;
        self.apply(&expanded).map_err(|e| bad(&e))
    }

    /// Apply one instruction, already expanded ([`Instruction::expand`]);
    /// instructions that do not change the config (RUN, COPY, ADD, ARG,
    /// MAINTAINER) are an error.
    pub fn apply(&mut self, instruction: &Instruction) -> Result<()> {
        match instruction {
            Instruction::Cmd(command) => {
                let cmd = self.command_line(command);
                self.set_list("Cmd", cmd);
                self.cmd_set = true;
            }
            Instruction::Entrypoint(command) => {
                let entrypoint = self.command_line(command);
                self.set_list("Entrypoint", entrypoint);
                // An inherited CMD was meant for the old entrypoint.
                if !self.cmd_set {
                    self.config.remove("Cmd");
                }
            }
            Instruction::Env(pairs) => {
                let mut env = self.env();
                for (key, value) in pairs {
                    let entry = format!("{key}={value}");
                    // Docker replaces a variable where it stands.
                    match env.iter_mut().find(|e| env_key(e) == key) {
                        Some(slot) => *slot = entry,
                        None => env.push(entry),
                    }
                }
                self.config.insert("Env".into(), json!(env));
            }
            Instruction::Label(pairs) => {
                let labels = object(self.config, "Labels");
                for (key, value) in pairs {
                    labels.insert(key.clone(), json!(value));
                }
            }
            Instruction::Expose(words) => {
                let mut ports = Vec::new();
                for word in words {
                    ports.extend(exposed_ports(word).map_err(Error::invalid)?);
                }
                let exposed = object(self.config, "ExposedPorts");
                for port in ports {
                    exposed.insert(port, json!({}));
                }
            }
            Instruction::Volume(paths) => {
                if paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(Error::invalid(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                let volumes = object(self.config, "Volumes");
                for path in paths {
                    volumes.insert(path.clone(), json!({}));
                }
            }
            Instruction::User(user) => {
                self.config.insert("User".into(), json!(user));
            }
            Instruction::Workdir(dir) => {
                let dir = self.working_dir(dir)?;
                self.config.insert("WorkingDir".into(), json!(dir));
            }
            Instruction::StopSignal(signal) => {
                self.config.insert("StopSignal".into(), json!(signal));
            }
            Instruction::Healthcheck(check) => {
                self.config.insert("Healthcheck".into(), check.to_config());
            }
            Instruction::Shell(shell) => {
                self.config.insert("Shell".into(), json!(shell));
            }
            Instruction::Onbuild(trigger) => {
                // The trigger as written, heredoc bodies after it, as Docker
                // stores it for the build that runs it.
                let mut expression = trigger.original.clone();
                if let Instruction::Run { heredocs, .. }
                | Instruction::Copy { heredocs, .. }
                | Instruction::Add { heredocs, .. } = &trigger.value
                {
                    for heredoc in heredocs {
                        expression.push_str(&format!("\n{}{}", heredoc.content, heredoc.name));
                    }
                }
                let mut triggers = strings(self.config.get("OnBuild"));
                triggers.push(expression);
                self.config.insert("OnBuild".into(), json!(triggers));
            }
            other => {
                return Err(Error::invalid(format!(
                    "{} does not change the image config",
                    other.keyword()
                )))
            }
        }
        Ok(())
    }

    fn env(&self) -> Vec<String> {
        strings(self.config.get("Env"))
    }

    /// The exec form as is; the shell form run by the config's SHELL, or
    /// `/bin/sh -c`.
    fn command_line(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(line) => {
                let mut shell = strings(self.config.get("Shell"));
                if shell.is_empty() {
                    shell = vec!["/bin/sh".into(), "-c".into()];
                }
                shell.push(line.clone());
                shell
            }
        }
    }

    /// Set a list field; an empty list (`CMD []`) removes it.
    fn set_list(&mut self, key: &str, list: Vec<String>) {
        if list.is_empty() {
            self.config.remove(key);
        } else {
            self.config.insert(key.into(), json!(list));
        }
    }

    /// A relative WORKDIR is joined to the current one (or `/`) and cleaned;
    /// an absolute one is taken as is.
    fn working_dir(&self, dir: &str) -> Result<String> {
        if dir.is_empty() {
            return Err(Error::invalid("WORKDIR needs a path"));
        }
        if dir.starts_with('/') {
            return Ok(dir.to_string());
        }
        let current = self
            .config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(img_core::path::normalize(&format!("/{current}/{dir}")))
    }
}

/// The value of `name` in an `Env` list (`KEY=value` entries; the last
/// wins), as expansion looks it up.
fn env_value(env: &[String], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|e| env_key(e) == name)
        .map(|e| e.split_once('=').map_or("", |(_, v)| v).to_string())
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
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

/// An EXPOSE word (`80`, `53/udp`, `8000-8002/tcp`, and the
/// `[ip:][host:]port` forms Docker also reads) as `port/proto` keys.
pub fn exposed_ports(spec: &str) -> std::result::Result<Vec<String>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [container] => (String::new(), "", *container),
        [host, container] => (String::new(), *host, *container),
        [.., host, container] => (parts[..parts.len() - 2].join(":"), *host, *container),
        [] => (String::new(), "", ""),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!(
            "EXPOSE {spec}: no port specified: {container}<empty>"
        ));
    }
    let proto = match proto.to_ascii_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        other => {
            return Err(format!(
                "EXPOSE {spec}: invalid proto: {other} (use tcp, udp or sctp)"
            ))
        }
    };
    let bare_ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && bare_ip.parse::<IpAddr>().is_err() {
        return Err(format!("EXPOSE {spec}: invalid IP address: {ip}"));
    }
    let (low, high) = port_range(port).ok_or_else(|| {
        format!("EXPOSE {spec}: invalid containerPort: {port} (ports are 0-65535)")
    })?;
    if !host.is_empty() {
        let (host_low, host_high) =
            port_range(host).ok_or_else(|| format!("EXPOSE {spec}: invalid hostPort: {host}"))?;
        if high - low != host_high - host_low && high != low {
            return Err(format!(
                "EXPOSE {spec}: invalid ranges specified for container and host Ports: {port} and {host}"
            ));
        }
    }
    Ok((low..=high).map(|p| format!("{p}/{proto}")).collect())
}

/// `80` or `8000-8002`.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let number = |t: &str| match t.bytes().all(|b| b.is_ascii_digit()) {
        true => t.parse::<u16>().ok(),
        false => None,
    };
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (number(low)?, number(high)?),
        None => (number(text)?, number(text)?),
    };
    (low <= high).then_some((low, high))
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;

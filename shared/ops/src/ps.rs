//! Containers listed as `docker ps` lists them (`img-ps`): CONTAINER ID,
//! IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES, newest first; the
//! command quoted and cut at 20 characters, the ID at 12, unless
//! `no_trunc`. Running ones only, unless `all`; Docker's filters
//! (`id`, `name`, `status`, `ancestor`, `exited`) and `--format` templates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use img_container::{Container, State};
use img_core::error::{Error, Result};
use img_core::format;
use img_core::image::parse_time;
use img_core::template::{self, RowFormat};

/// The longest command shown whole (Docker's `ps` cuts it there).
const COMMAND_WIDTH: usize = 20;

/// The fields `--format` knows, with their column titles.
pub const FIELDS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Names", "NAMES"),
];

/// A container as listed: its record and whether its owner lives.
pub struct Listed {
    /// The record.
    pub container: Container,
    /// Whether it runs now.
    pub running: bool,
}

/// How to list.
pub struct View {
    /// Stopped and created ones too (`-a`).
    pub all: bool,
    /// IDs only (`-q`).
    pub quiet: bool,
    /// Whole IDs and commands.
    pub no_trunc: bool,
    /// `--filter KEY=VALUE`s: all must match (several of one key: any).
    pub filters: Vec<(String, String)>,
    /// `--format`.
    pub format: RowFormat,
}

/// Parse `--filter` values.
pub fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            let (key, value) = f.split_once('=').ok_or_else(|| {
                Error::invalid(format!("bad format of filter {f:?} (expected name=value)"))
            })?;
            if !matches!(key, "id" | "name" | "status" | "ancestor" | "exited") {
                return Err(Error::invalid(format!(
                    "invalid filter {key:?}: img-ps knows id, name, status, ancestor and exited"
                )));
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// The state word Docker's filters and `.State` use.
fn state_word(listed: &Listed) -> &'static str {
    match (&listed.container.state, listed.running) {
        (State::Running { .. }, true) => "running",
        (State::Created, _) => "created",
        _ => "exited",
    }
}

fn matches(listed: &Listed, key: &str, value: &str) -> bool {
    let c = &listed.container;
    match key {
        "id" => c.id.starts_with(value),
        "name" => c.name.contains(value.trim_start_matches('/')),
        "status" => state_word(listed) == value,
        "ancestor" => c.image_name == value || c.image.to_string().contains(value),
        "exited" => matches!(&c.state, State::Exited { code, .. } if code.to_string() == value),
        _ => false,
    }
}

/// The containers of `store` as `view` says (`img-ps`).
pub fn list(store: &img_store::Store, view: &View) -> Result<String> {
    let listed: Vec<Listed> = img_container::Containers::of(store)
        .list()?
        .into_iter()
        .map(|container| Listed {
            running: img_container::control::is_running(store, &container),
            container,
        })
        .collect();
    render(&listed, format::now(), view)
}

/// The table (or with `quiet`, the IDs, one per line).
pub fn render(listed: &[Listed], now: DateTime<Utc>, view: &View) -> Result<String> {
    let mut shown: Vec<&Listed> = listed
        .iter()
        .filter(|l| view.all || state_word(l) == "running" || !view.filters.is_empty())
        .filter(|l| {
            view.filters.iter().all(|(key, _)| {
                view.filters
                    .iter()
                    .filter(|(k, _)| k == key)
                    .any(|(k, v)| matches(l, k, v))
            })
        })
        .collect();
    if !view.all && view.filters.iter().all(|(k, _)| k != "status") {
        shown.retain(|l| state_word(l) == "running");
    }
    shown.sort_by_key(|l| std::cmp::Reverse(parse_time(&l.container.created)));
    let id = |c: &Container| {
        if view.no_trunc {
            c.id.clone()
        } else {
            c.short_id().to_string()
        }
    };
    if view.quiet {
        return Ok(shown
            .iter()
            .map(|l| format!("{}\n", id(&l.container)))
            .collect());
    }
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    let mut items = Vec::new();
    for l in shown {
        let c = &l.container;
        let created = parse_time(&c.created);
        let ports = if l.running { ports(c) } else { String::new() };
        let row = vec![
            id(c),
            c.image_name.clone(),
            command(&c.command, view.no_trunc),
            format::ago(created, now),
            status(l, now),
            ports,
            c.name.clone(),
        ];
        let fields: BTreeMap<&str, String> = BTreeMap::from([
            ("ID", row[0].clone()),
            ("Image", row[1].clone()),
            ("Command", row[2].clone()),
            (
                "CreatedAt",
                created.map(format::go_time).unwrap_or_default(),
            ),
            ("RunningFor", row[3].clone()),
            ("Status", row[4].clone()),
            ("Ports", row[5].clone()),
            ("Names", row[6].clone()),
            ("State", state_word(l).to_string()),
        ]);
        items.push(template::data(&fields)?);
        rows.push(row);
    }
    view.format.render(&rows, &items)
}

/// `0.0.0.0:8080->80/tcp, …`
fn ports(c: &Container) -> String {
    c.config
        .as_ref()
        .map(|config| {
            config
                .isolation
                .ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `"sh -c 'echo hi'"`, cut as Docker cuts it.
fn command(args: &[String], no_trunc: bool) -> String {
    let line = args.join(" ");
    let shown = if !no_trunc && line.chars().count() > COMMAND_WIDTH {
        let cut: String = line.chars().take(COMMAND_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        line
    };
    format!("\"{shown}\"")
}

/// `Exited (0) 5 minutes ago`, `Up 3 seconds`, `Created`.
fn status(listed: &Listed, now: DateTime<Utc>) -> String {
    match &listed.container.state {
        State::Created => "Created".into(),
        State::Running { started, .. } if listed.running => {
            let since = format::ago(started.as_deref().and_then(parse_time), now);
            format!("Up {}", since.trim_end_matches(" ago"))
        }
        State::Running { .. } => "Exited (137)".into(),
        State::Exited { code, finished } => {
            format!("Exited ({code}) {}", format::ago(parse_time(finished), now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, created: &str, state: State) -> Listed {
        let running = matches!(state, State::Running { .. });
        Listed {
            container: Container {
                id: format!("{:0<64}", name.len()),
                name: name.into(),
                image: img_core::digest::of_bytes(b"config"),
                image_name: "busybox".into(),
                layers: Vec::new(),
                command: vec!["sh".into(), "-c".into(), "echo a long command line".into()],
                created: created.into(),
                runtime: "runc".into(),
                state,
                auto_remove: false,
                config: None,
            },
            running,
        }
    }

    fn view(all: bool, filters: &[&str], format: Option<&str>) -> View {
        View {
            all,
            quiet: false,
            no_trunc: false,
            filters: parse_filters(&filters.iter().map(|f| f.to_string()).collect::<Vec<_>>())
                .unwrap(),
            format: RowFormat::parse(format, FIELDS).unwrap(),
        }
    }

    #[test]
    fn rows_as_docker_ps_shows_them() {
        let now: DateTime<Utc> = "2026-11-22T12:00:00Z".parse().unwrap();
        let old = container(
            "old",
            "2026-11-22T11:00:00Z",
            State::Exited {
                code: 3,
                finished: "2026-11-22T11:55:00Z".into(),
            },
        );
        let new = container("newer", "2026-11-22T11:59:00Z", State::Created);
        let up = container(
            "up",
            "2026-11-22T11:58:00Z",
            State::Running {
                pid: 1,
                started: Some("2026-11-22T11:58:30Z".into()),
            },
        );
        let all = [old, new, up];
        let table = render(&all, now, &view(true, &[], None)).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("CONTAINER ID   IMAGE"), "{table}");
        assert!(
            lines[1].contains("\"sh -c echo a long c…\"") && lines[1].ends_with("newer"),
            "{table}"
        );
        assert!(
            lines[2].contains("Up About a minute") || lines[2].contains("Up "),
            "{table}"
        );
        assert!(lines[3].contains("Exited (3) 5 minutes ago"), "{table}");
        // Running ones only by default.
        let running = render(&all, now, &view(false, &[], None)).unwrap();
        assert_eq!(running.lines().count(), 2, "{running}");
        let exited = render(
            &all,
            now,
            &view(false, &["status=exited"], Some("{{.Names}}")),
        )
        .unwrap();
        assert_eq!(exited, "old\n");
        let named = render(
            &all,
            now,
            &view(
                true,
                &["name=new", "name=old"],
                Some("{{.Names}} {{.State}}"),
            ),
        )
        .unwrap();
        assert_eq!(named, "newer created\nold exited\n");
        assert!(parse_filters(&["label=x".into()]).is_err());
        assert!(parse_filters(&["nonsense".into()]).is_err());
    }
}

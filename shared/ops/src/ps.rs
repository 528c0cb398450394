//! Containers listed as `docker ps -a` lists them (`img-ls --containers`):
//! CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES, newest
//! first; the command quoted and cut at 20 characters, the ID at 12,
//! unless `no_trunc`.

use chrono::{DateTime, Utc};

use img_core::format;
use img_core::image::parse_time;
use img_store::containers::{Container, State};

/// The longest command shown whole (Docker's `ps` cuts it there).
const COMMAND_WIDTH: usize = 20;

/// The table (or with `quiet`, the IDs, one per line).
pub fn render(containers: &[Container], now: DateTime<Utc>, quiet: bool, no_trunc: bool) -> String {
    let mut newest_first: Vec<&Container> = containers.iter().collect();
    newest_first.sort_by_key(|c| std::cmp::Reverse(parse_time(&c.created)));
    let id = |c: &Container| {
        if no_trunc {
            c.id.clone()
        } else {
            c.short_id().to_string()
        }
    };
    if quiet {
        return newest_first
            .iter()
            .map(|c| format!("{}\n", id(c)))
            .collect();
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
    for c in newest_first {
        rows.push(vec![
            id(c),
            c.image_name.clone(),
            command(&c.command, no_trunc),
            format::ago(parse_time(&c.created), now),
            status(&c.state, now),
            String::new(),
            c.name.clone(),
        ]);
    }
    format::table(&rows)
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
fn status(state: &State, now: DateTime<Utc>) -> String {
    match state {
        State::Created => "Created".into(),
        State::Running { .. } => "Up".into(),
        State::Exited { code, finished } => {
            format!("Exited ({code}) {}", format::ago(parse_time(finished), now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, created: &str, state: State) -> Container {
        Container {
            id: format!("{:0<64}", name.len()),
            name: name.into(),
            image: img_core::digest::of_bytes(b"config"),
            image_name: "busybox".into(),
            layers: Vec::new(),
            command: vec!["sh".into(), "-c".into(), "echo a long command line".into()],
            created: created.into(),
            runtime: "runc".into(),
            state,
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
        let table = render(&[old, new], now, false, false);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("CONTAINER ID   IMAGE"), "{table}");
        assert!(
            lines[1].contains("\"sh -c echo a long c…\"") && lines[1].ends_with("newer"),
            "{table}"
        );
        assert!(lines[2].contains("Exited (3) 5 minutes ago"), "{table}");
        assert_eq!(render(&[], now, true, false), "");
    }
}

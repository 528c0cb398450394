//! `img-exec`: a command run in a running container, as `docker exec`
//! runs one: in the container's namespaces, with its environment (plus
//! `-e`), working directory (or `-w`) and user (or `-u`, resolved against
//! the container's own `/etc/passwd`) — by the runtime's `exec`, whose
//! state is in the store. A command that cannot be run (missing, not
//! executable) exits 126, as with docker exec, with the runtime's one-line
//! reason; the command's own status is passed on, 255 included.

use std::process::Stdio;

use super::{control, owner, runtime, user, Container, State};
use img_core::error::{Error, IoContext, Kind, Result};
use img_store::Store;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=value` pairs added to the container's environment.
    pub env: Vec<String>,
    /// The user (`name`, `uid`, `uid:gid`).
    pub user: Option<String>,
    /// The working directory.
    pub workdir: Option<String>,
    /// Pass stdin on.
    pub interactive: bool,
    /// Give the command a terminal.
    pub tty: bool,
}

/// Run the command in `container`; its exit status.
pub fn exec(store: &Store, container: &Container, query: &str, options: &Options) -> Result<i32> {
    let pid = match container.state {
        State::Running { pid, .. } if control::is_running(store, container) => pid,
        _ => {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "container {query} ({}) is not running",
                    container.short_id()
                ),
            ))
        }
    };
    if options.args.is_empty() {
        return Err(Error::invalid(
            "no command given: img-exec CONTAINER COMMAND [ARG...]",
        ));
    }
    let name = (!container.runtime.is_empty()).then_some(container.runtime.as_str());
    let runtime = runtime::candidates(name)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("no OCI runtime found"))?
        .in_store(&owner::runtime_dir(&store.state_dir()));
    // The runtime writes the pid file once the command runs: without it,
    // the runtime's own failure (the command missing or not executable)
    // is told apart from the command's exit status, as Docker tells them.
    let dir = crate::Containers::of(store).dir_of(&container.id);
    let pid_file = dir.file(&format!("exec-{}.pid", &crate::new_id()?[..16]));
    let mut command = runtime.command();
    // Its own messages plain on stderr, one line (a log file takes the
    // decorated copy).
    command.arg("--log").arg("/dev/null").arg("exec");
    command.arg("--pid-file").arg(&pid_file);
    if options.tty {
        command.arg("--tty");
    }
    for pair in &options.env {
        let pair = if pair.contains('=') {
            pair.clone()
        } else {
            // `-e KEY` takes img's own value, as Docker does.
            match std::env::var(pair) {
                Ok(value) => format!("{pair}={value}"),
                Err(_) => continue,
            }
        };
        command.arg("--env").arg(pair);
    }
    if let Some(dir) = &options.workdir {
        command.arg("--cwd").arg(dir);
    }
    if let Some(spec) = &options.user {
        // The container's own /etc/passwd, as its process sees it.
        let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
        let user = user::resolve(&root, spec)?;
        command
            .arg("--user")
            .arg(format!("{}:{}", user.uid, user.gid));
        if !user.groups.is_empty() {
            let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
            command.arg("--additional-gids").arg(groups.join(","));
        }
    }
    command.arg(&container.id).args(&options.args);
    command.stdin(if options.interactive {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    let status = command
        .status()
        .io_context(|| format!("running {}", runtime.path.display()));
    let ran = std::fs::remove_file(&pid_file).is_ok();
    let status = status?;
    if !ran {
        // The runtime said why on stderr. docker exec exits 126 for a
        // command that is missing as for one that cannot be executed.
        return Ok(126);
    }
    Ok(status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    }))
}

//! Choosing and driving the OCI runtime: `runc` or `crun`, whichever
//! works on this host.
//!
//! A container without a terminal is made and started by one runtime
//! process, `RUNTIME run --pid-file`, which stays to wait for it and exits
//! with its status: one Go program started per container instead of three
//! (`create`, `start`, `delete`). A `run` that fails before the
//! container's process starts writes no pid file (see `pidfile.rs`), so a
//! runtime failing on this host (crun refuses hosts with hybrid cgroups,
//! runc works there) is still told apart from the command failing, and
//! the next runtime is tried — unless the runtime said that the command
//! itself cannot be executed, which no other runtime would change.
//!
//! A container with a terminal is made with `RUNTIME create` and started
//! with `RUNTIME start`, as containerd's shim does: the runtime hands the
//! terminal's master to img over a socket, which a foreground `run` would
//! keep for itself. The calling process makes itself a child subreaper
//! first, so that the container's first process, orphaned when `create`
//! exits, becomes its child: its exit status is then collected with
//! `waitpid`, exactly, with no polling of the runtime's state.
//!
//! The runtime's own messages are told apart from the container's by
//! giving it a pipe as stderr: what arrives there before the container
//! is created (`create` succeeded, or `run` wrote its pid file) is the
//! runtime's; afterwards the pipe is the container's stderr and is copied
//! to img's own.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::pidfile::{self, Seen};
use img_core::error::{Error, IoContext, Kind, Result};

/// The runtimes tried, in order, when none is chosen.
const CANDIDATES: &[&str] = &["runc", "crun"];

/// An OCI runtime program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Runtime {
    /// What the user calls it (`runc`, or the path given).
    pub name: String,
    /// The program.
    pub path: PathBuf,
    /// Where it keeps its state (`--root`): inside the store, so that no
    /// container of img's is ever out of its sight (see `owner.rs`); the
    /// runtime's own default when `None`.
    #[serde(skip)]
    pub root: Option<PathBuf>,
}

/// Why `create` failed.
#[derive(Debug)]
pub enum CreateError {
    /// The command cannot be run (not found: exit status 127; not
    /// executable: 126), whatever runtime runs it.
    Command {
        /// The runtime's message.
        message: String,
        /// 126 or 127, as Docker exits.
        code: i32,
    },
    /// The runtime failed; another one may work.
    Runtime(Error),
}

/// The runtimes to try: the one chosen (`--runtime`, `$IMG_RUNTIME`: a
/// name on `$PATH` or a path), or each of runc and crun that is installed.
pub fn candidates(chosen: Option<&str>) -> Result<Vec<Runtime>> {
    if let Some(name) = chosen.filter(|n| !n.is_empty()) {
        let path = find(name).ok_or_else(|| {
            Error::not_found(format!(
                "OCI runtime {name:?} not found: install it (apt install runc) or name another with --runtime"
            ))
        })?;
        return Ok(vec![Runtime {
            name: name.to_string(),
            path,
            root: None,
        }]);
    }
    let found: Vec<Runtime> = CANDIDATES
        .iter()
        .filter_map(|name| {
            find(name).map(|path| Runtime {
                name: name.to_string(),
                path,
                root: None,
            })
        })
        .collect();
    if found.is_empty() {
        return Err(Error::not_found(
            "no OCI runtime found: install runc or crun (apt install runc), or name one with --runtime",
        ));
    }
    Ok(found)
}

/// A program by path, or by name on `$PATH` (and the sbin directories,
/// which root's `$PATH` has but cron's may lack).
fn find(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What `img-run --version` says of the runtimes: one line for each it
/// would try, in order — its name, version and program — as `docker
/// version` lists the daemon's runc. img has no daemon: the program that
/// runs containers reports the runtime it runs them with.
pub fn describe(runtimes: &[Runtime]) -> String {
    runtimes
        .iter()
        .map(|runtime| {
            let version = match runtime.version() {
                Ok(version) => version,
                Err(e) => format!("version unknown ({e})"),
            };
            format!(
                "runtime: {} {version} ({})\n",
                runtime.name,
                runtime.path.display()
            )
        })
        .collect()
}

/// The version a runtime's `--version` names on its first line (`runc
/// version 1.1.5`, `crun version 1.8.1`), or that whole line when it says
/// it otherwise.
fn version_of(said: &str) -> Option<String> {
    let first = said.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(match first.split_once(" version ") {
        Some((_, version)) => version.trim().to_string(),
        None => first.to_string(),
    })
}

/// How the container's standard streams are connected at `create`
/// (stderr is `create`'s own pipe); never img's own (see `stdio.rs`).
pub struct Stdio3 {
    /// stdin: a pipe img feeds (`-i`), or nothing.
    pub stdin: Stdio,
    /// stdout: a pipe img copies, or nothing.
    pub stdout: Stdio,
}

/// A container a `run` started: the runtime process that waits for it
/// (its exit status is the container's), the container's first process
/// (for signals) and the pipe carrying its stderr.
pub struct Running {
    /// The `run` process, our child.
    pub runner: rustix::process::Pid,
    /// The container's first process.
    pub pid: rustix::process::Pid,
    /// The container's stderr (and the runtime's later messages).
    pub stderr: std::io::PipeReader,
}

/// A created container: its first process (our child, by the subreaper
/// rule) and the pipe carrying its stderr.
pub struct Created {
    /// The container's first process.
    pub pid: rustix::process::Pid,
    /// The container's stderr (and the runtime's later messages).
    pub stderr: std::io::PipeReader,
}

impl Runtime {
    /// The program with its state root (`--root`), for a subcommand.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        if let Some(root) = &self.root {
            command.arg("--root").arg(root);
        }
        command
    }

    /// The directory name of its state under the store's runtime
    /// directory: the program's file name (`runc`, `crun`).
    pub(crate) fn state_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone())
    }

    /// The same runtime keeping its state under the store's runtime
    /// directory `runtime_dir` (`ROOT/.img/runtime`).
    pub fn in_store(&self, runtime_dir: &Path) -> Runtime {
        Runtime {
            root: Some(runtime_dir.join(self.state_name())),
            ..self.clone()
        }
    }

    /// Whether it still keeps state of the container `id` (always, as far
    /// as img knows, when its state is not in the store).
    pub fn has_state(&self, id: &str) -> bool {
        self.root.as_ref().is_none_or(|root| root.join(id).exists())
    }

    /// Its version, as its `--version` says it.
    pub fn version(&self) -> Result<String> {
        let out = Command::new(&self.path)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .io_context(|| format!("running {} --version", self.path.display()))?;
        let said = String::from_utf8_lossy(&out.stdout);
        match version_of(&said) {
            Some(version) if out.status.success() => Ok(version),
            _ => Err(Error::new(
                Kind::Remote,
                format!(
                    "{} --version failed: {}",
                    self.path.display(),
                    last_line(&String::from_utf8_lossy(&out.stderr))
                ),
            )),
        }
    }

    /// Create the container `id` from the bundle `bundle`; with
    /// `console_socket`, the runtime sends the terminal's master there.
    pub fn create(
        &self,
        bundle: &Path,
        id: &str,
        stdio: Stdio3,
        console_socket: Option<&Path>,
    ) -> std::result::Result<Created, CreateError> {
        let (mut command, pid_file, mut reader) =
            self.launch("create", bundle, id, console_socket, stdio)?;
        let status = command
            .status()
            .map_err(|e| self.io_error(&format!("running {}", self.path.display()), e));
        // Our copy of the write end must go, or the pipe never ends.
        drop(command);
        let status = status?;
        if !status.success() {
            let mut said = String::new();
            let _ = reader.read_to_string(&mut said);
            return Err(classify(&self.name, &said));
        }
        let pid = pidfile::read(&pid_file).ok_or_else(|| {
            CreateError::Runtime(Error::new(
                Kind::Remote,
                format!(
                    "{} created the container but wrote no process ID",
                    self.name
                ),
            ))
        })?;
        Ok(Created {
            pid,
            stderr: reader,
        })
    }

    /// Create and start the container `id` from the bundle `bundle` in one
    /// runtime process (`run`), which stays to wait for it: the fast path,
    /// one process instead of `create`, `start` and `delete`. Returns once
    /// the container's process runs; a `run` that fails before that is
    /// told apart as a failed `create` is (see `pidfile.rs`).
    pub fn run(
        &self,
        bundle: &Path,
        id: &str,
        stdio: Stdio3,
    ) -> std::result::Result<Running, CreateError> {
        let (mut command, pid_file, mut reader) = self.launch("run", bundle, id, None, stdio)?;
        // Signals are img's to pass on, once: a terminal's Ctrl-C reaches
        // img's process group, not the runtime's.
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| self.io_error(&format!("running {}", self.path.display()), e));
        // Our copy of the write end must go, or the pipe never ends.
        drop(command);
        let child = child?;
        let runner = rustix::process::Pid::from_raw(child.id() as i32)
            .ok_or_else(|| CreateError::Runtime(Error::invalid("the runtime has no process ID")))?;
        // A child not yet waited for keeps its ID: the pidfd is its own.
        let seen = rustix::process::pidfd_open(runner, rustix::process::PidfdFlags::empty())
            .map_err(|e| self.io_error("watching the runtime", e.into()))
            .and_then(|pidfd| pidfile::wait(&pid_file, &pidfd, None).map_err(CreateError::Runtime));
        match seen {
            Ok(Seen::Written(pid)) => Ok(Running {
                runner,
                pid,
                stderr: reader,
            }),
            Ok(_) => {
                let _ = super::children::wait(runner);
                let mut said = String::new();
                let _ = reader.read_to_string(&mut said);
                Err(classify(&self.name, &said))
            }
            Err(e) => {
                let _ = rustix::process::kill_process(runner, rustix::process::Signal::KILL);
                let _ = super::children::wait(runner);
                Err(e)
            }
        }
    }

    /// The runtime's `VERB --bundle BUNDLE --pid-file BUNDLE/pid
    /// [--console-socket SOCKET] ID` with the container's stdio, and the pid
    /// file (removed first, so a file there is this launch's) and the read
    /// end of its stderr (what it says when it fails).
    fn launch(
        &self,
        verb: &str,
        bundle: &Path,
        id: &str,
        console_socket: Option<&Path>,
        stdio: Stdio3,
    ) -> std::result::Result<(Command, PathBuf, std::io::PipeReader), CreateError> {
        let pid_file = bundle.join("pid");
        let _ = fs::remove_file(&pid_file);
        let (reader, writer) = std::io::pipe().map_err(|e| self.io_error("making a pipe", e))?;
        let mut command = self.command();
        command
            .arg(verb)
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(socket) = console_socket {
            command.arg("--console-socket").arg(socket);
        }
        command
            .arg(id)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(writer);
        Ok((command, pid_file, reader))
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> CreateError {
        CreateError::Runtime(Error::io(format!("{what} ({})", self.name), e))
    }

    /// Start the created container `id`.
    pub fn start(&self, id: &str) -> Result<()> {
        self.quiet(&["start", id])
    }

    /// Send `signal` to the container `id`'s first process.
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.quiet(&["kill", id, signal])
    }

    /// Remove the container `id` from the runtime's state, killing what
    /// may still run of it.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.quiet(&["delete", "--force", id])
    }

    /// Run the runtime with `args`; its messages become the error.
    fn quiet(&self, args: &[&str]) -> Result<()> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .io_context(|| format!("running {}", self.path.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::new(
            Kind::Remote,
            format!(
                "{} {}: {}",
                self.name,
                args.first().copied().unwrap_or_default(),
                last_line(&String::from_utf8_lossy(&out.stderr))
            ),
        ))
    }
}

/// Tell a failed `create`'s message apart: the command's fault, or the
/// runtime's.
fn classify(runtime: &str, said: &str) -> CreateError {
    let message = last_line(said);
    let lower = message.to_ascii_lowercase();
    let exec = lower.contains("exec:")
        || lower.contains("executable file not found")
        || lower.contains("executable file `");
    if exec && (lower.contains("not found") || lower.contains("no such file")) {
        return CreateError::Command { message, code: 127 };
    }
    if exec && lower.contains("permission denied") {
        return CreateError::Command { message, code: 126 };
    }
    let message = if message.is_empty() {
        format!("{runtime} create failed without saying why")
    } else {
        message
    };
    CreateError::Runtime(Error::new(Kind::Remote, message))
}

/// The last non-empty line a runtime printed (its error), without the
/// `time=… level=error msg="…"` decoration of runc's log lines.
fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    match line.split_once(" msg=\"") {
        Some((_, quoted)) => {
            let body = quoted.strip_suffix('"').unwrap_or(quoted);
            body.replace("\\\"", "\"").replace("\\\\", "\\")
        }
        None => line.to_string(),
    }
}

/// Make the calling process the reaper of its orphaned descendants.
pub(crate) fn become_subreaper() -> Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| Error::io("becoming a child subreaper", e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_failures_are_told_apart() {
        let runc = "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH";
        assert!(matches!(
            classify("runc", runc),
            CreateError::Command { code: 127, .. }
        ));
        let denied = "runc create failed: unable to start container process: exec: \"/etc\": permission denied";
        assert!(matches!(
            classify("runc", denied),
            CreateError::Command { code: 126, .. }
        ));
        let crun = "cgroups in hybrid mode not supported, drop all controllers from cgroupv2\n";
        match classify("crun", crun) {
            CreateError::Runtime(e) => assert!(e.to_string().contains("hybrid mode")),
            other => panic!("{other:?}"),
        }
        match classify("crun", "") {
            CreateError::Runtime(e) => assert!(e.to_string().contains("without saying why")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn runc_log_lines_lose_their_decoration() {
        let line = r#"time="2026-11-30T07:17:37Z" level=error msg="runc create failed: exec: \"true\": executable file not found in $PATH""#;
        assert_eq!(
            last_line(line),
            r#"runc create failed: exec: "true": executable file not found in $PATH"#
        );
        assert_eq!(last_line("plain\n\n"), "plain");
    }

    #[test]
    fn versions_are_read_from_the_first_line() {
        let runc = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n";
        assert_eq!(version_of(runc).as_deref(), Some("1.1.5+ds1"));
        let crun = "crun version 1.8.1\ncommit: f8a0\n+SYSTEMD +SELINUX\n";
        assert_eq!(version_of(crun).as_deref(), Some("1.8.1"));
        assert_eq!(
            version_of("\nyouki 0.3.0\n").as_deref(),
            Some("youki 0.3.0")
        );
        assert_eq!(version_of(""), None);
    }

    #[test]
    fn a_missing_chosen_runtime_is_named() {
        let err = candidates(Some("no-such-runtime-xyz")).unwrap_err();
        assert_eq!(err.kind(), Kind::NotFound);
        assert!(err.to_string().contains("no-such-runtime-xyz"));
    }
}

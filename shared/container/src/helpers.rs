//! Helper processes of a container (pasta): what the owner notes of one,
//! how a reaper finds those it never noted, and how one is ended — only
//! while its command line still names the container's file, so that a
//! process ID reused meanwhile is never signalled (see `owner.rs`).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::owner::list;

/// A process that works for a container and must end with it (pasta).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Helper {
    /// Its process ID.
    pub pid: i32,
    /// A word its command line holds, checked before it is killed (so
    /// that a reused process ID is never signalled).
    pub marker: String,
    /// It listens on host ports (`-p`): its end is waited for, so that
    /// they are free once the container is.
    #[serde(default)]
    pub holds_ports: bool,
}

/// Helpers of the container `id` that its owner started but died before
/// noting (killed while pasta was starting): each names its file
/// `OWNED/ID.NAME` on its command line, the marker a noted one has.
pub(crate) fn unnoted_helpers(owned: &Path, id: &str) -> Vec<Helper> {
    let prefix = owned.join(format!("{id}."));
    let prefix = prefix.as_os_str().as_encoded_bytes();
    let own = std::process::id() as i32;
    list(Path::new("/proc"))
        .iter()
        .filter_map(|name| name.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter_map(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let marker = cmdline.split(|&b| b == 0).find(|arg| {
                arg.strip_prefix(prefix)
                    .is_some_and(|name| !name.is_empty() && name != b"lock" && name != b"json")
            })?;
            Some(Helper {
                pid,
                marker: String::from_utf8_lossy(marker).into_owned(),
                // Unknown: waited for, to be sure.
                holds_ports: true,
            })
        })
        .collect()
}

/// Helpers of the container `id` named by their pid files (`OWNED/ID.NAME`,
/// pasta's `-P`) whose process still names that file on its command line.
pub(crate) fn named_helpers(owned: &Path, id: &str) -> Vec<Helper> {
    helper_files(owned, id)
        .into_iter()
        .filter_map(|path| {
            let pid = super::pidfile::read(&path)?.as_raw_nonzero().get();
            let marker = path.display().to_string();
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&marker)
                .then_some(Helper {
                    pid,
                    marker,
                    // Unknown: waited for, to be sure.
                    holds_ports: true,
                })
        })
        .collect()
}

/// The helper files of the container `id` in the owners' directory
/// `owned` (`ID.NAME`, beside the owner's `ID.lock` and `ID.json`),
/// whether or not the process they name lives.
pub(crate) fn helper_files(owned: &Path, id: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("{id}.");
    list(owned)
        .iter()
        .filter(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|kind| !kind.is_empty() && kind != "lock" && kind != "json")
        })
        .map(|name| owned.join(name))
        .collect()
}

/// Kill a helper, if the process with its ID is still the helper, and
/// wait until it is gone (so that the ports it held are free).
pub(crate) fn kill_helper(helper: &Helper) {
    if let Some(pid) = signal_helper(helper) {
        wait_gone(pid);
    }
}

/// Wait until the helper `pid`, killed, is gone (its files, the ports it
/// listened on, closed).
pub(crate) fn wait_gone(pid: rustix::process::Pid) {
    // A daemon of ours is our child (we are a subreaper): reap it.
    // Otherwise, watch it go, for a while.
    if rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).is_err() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while fs::metadata(format!("/proc/{}/cmdline", pid.as_raw_nonzero())).is_ok()
            && std::time::Instant::now() < deadline
        {
            let zombie = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
                .map(|s| {
                    s.rsplit_once(')')
                        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            if zombie {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Kill a helper, if the process with its ID is still the helper; its ID
/// then.
pub(crate) fn signal_helper(helper: &Helper) -> Option<rustix::process::Pid> {
    let pid = rustix::process::Pid::from_raw(helper.pid)?;
    let cmdline = fs::read(format!("/proc/{}/cmdline", helper.pid)).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains(&helper.marker) {
        return None;
    }
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    Some(pid)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// A process naming `marker` on its command line, as pasta names its
    /// pid file, once it has executed; it ends when its stdin closes.
    pub(crate) fn process_naming(marker: &Path) -> Child {
        let child = Command::new("sh")
            .args(["-c", "read x"])
            .arg(marker)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !String::from_utf8_lossy(
            &fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .contains(&*marker.to_string_lossy())
        {
            assert!(std::time::Instant::now() < deadline, "sh never ran");
            std::thread::sleep(Duration::from_millis(1));
        }
        child
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OWNED: &str = "owned";

    #[test]
    fn helpers_are_killed_only_when_their_command_line_matches() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        // Until the child has executed sleep, its command line is not
        // sleep's yet.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default() != b"sleep\x0030\0" {
            assert!(std::time::Instant::now() < deadline, "sleep never ran");
            std::thread::sleep(Duration::from_millis(1));
        }
        kill_helper(&Helper {
            pid,
            marker: "not-this-one".into(),
            holds_ports: true,
        });
        assert!(child.try_wait().unwrap().is_none(), "a mismatch is spared");
        kill_helper(&Helper {
            pid,
            marker: "30".into(),
            holds_ports: true,
        });
        // Killed, and reaped by kill_helper (a subreaper's daemon is its
        // child): gone from /proc.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "killed and reaped"
        );
    }

    #[test]
    fn a_helper_is_found_by_the_pid_file_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let owned = dir.path().join(OWNED);
        fs::create_dir_all(&owned).unwrap();
        let marker = owned.join(format!("{ID}.pasta"));
        let mut child = process_naming(&marker);
        let pid = child.id() as i32;
        assert!(named_helpers(&owned, ID).is_empty(), "no pid file yet");
        fs::write(&marker, format!("{pid}\n")).unwrap();
        let found = named_helpers(&owned, ID);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, pid);
        // A file naming a process that does not name it is no helper.
        fs::write(&marker, format!("{}\n", std::process::id())).unwrap();
        assert!(named_helpers(&owned, ID).is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

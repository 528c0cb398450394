//! A container's own network, as Docker's default `bridge` network gives
//! one: a network namespace with outbound access and the ports `-p` and
//! `-P` publish on the host.
//!
//! The namespace is made by img before the runtime runs ([`Namespace`],
//! joined by the runtime by path, as Docker's libnetwork hands one to
//! runc), so that `pasta` (Debian's `passt` package) connects it while img
//! mounts the root filesystem and the runtime does its own work — pasta's
//! start-up is as long as a whole `runc run` — and is ready before the
//! container's process starts, as Docker guarantees: the runtime runs a
//! hook of img's ([`Starting::hook`], a `createRuntime` hook: after the
//! runtime made the container's namespaces, before it runs anything of
//! the image) that waits for pasta, and fails the start when pasta
//! failed. pasta makes the container's interface, `eth0` as Docker names
//! it (kept past pasta when it publishes ports: see `keep_interface`), and
//! copies the host's IPv4 addresses and routes into the
//! namespace (IPv6 ones too when a port is published on the host's IPv6
//! addresses: see `listens_on_ipv6`), carries
//! the container's connections out through ordinary sockets of the host
//! (nothing host-wide changes: no bridge, no firewall rule), and listens
//! on each published host port, passing connections in. The gateway
//! address reaches the host's own services, as Docker's host gateway does.
//! pasta runs as a daemon noted as a helper of the container's owner
//! (`owner.rs`): it ends with the container, or with a reap when the owner
//! was killed — so a published port is free again once the container
//! stopped.

use std::fmt;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::helpers::Helper;
use super::pidfile::{self, Seen};
use img_core::error::{Error, IoContext, Kind, Result};

/// The name the hook waiting for pasta runs under (its `argv[0]`).
const READY_HOOK: &str = "img-network-ready";

/// How long the hook waits for pasta: far beyond a start under load, short
/// of a runtime waiting forever for a pasta that hangs.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The program that connects the namespace.
const PASTA: &str = "pasta";

/// pasta as it runs: on a CPU with AVX2, its AVX2 build, which plain
/// `pasta` would otherwise execute first thing. Named directly, pasta
/// executes once: a reaper looking for it by its command line (`owner.rs`)
/// cannot look in the moment of a second exec, when it has none.
fn pasta_program() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        const AVX2: &str = "pasta.avx2";
        let path = std::env::var_os("PATH").unwrap_or_default();
        if std::is_x86_feature_detected!("avx2")
            && std::env::split_paths(&path).any(|dir| dir.join(AVX2).is_file())
        {
            return AVX2;
        }
    }
    PASTA
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

/// A port published on the host (`-p`), as Docker writes it:
/// `0.0.0.0:8080->80/tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The host address it listens on (all when `None`).
    pub host_ip: Option<IpAddr>,
    /// The host port (0: a free one, chosen at start).
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let host = match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        write!(
            f,
            "{host}:{}->{}/{proto}",
            self.host_port, self.container_port
        )
    }
}

impl Port {
    /// Parse Docker's `-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`.
    pub fn parse(text: &str) -> Result<Port> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid port specification {text:?}: {why} (give [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp])"
            ))
        };
        let (addr, protocol) = match text.rsplit_once('/') {
            Some((a, "tcp")) => (a, Protocol::Tcp),
            Some((a, "udp")) => (a, Protocol::Udp),
            Some((_, other)) => return Err(bad(&format!("unknown protocol {other:?}"))),
            None => (text, Protocol::Tcp),
        };
        // An IPv6 host address is bracketed: [::1]:8080:80.
        let (host_ip, rest) = match addr.strip_prefix('[') {
            Some(v6) => {
                let (ip, rest) = v6.split_once("]:").ok_or_else(|| bad("unclosed ["))?;
                let ip: IpAddr = ip.parse().map_err(|_| bad("bad IPv6 address"))?;
                (Some(ip), rest)
            }
            None => match addr.matches(':').count() {
                2 => {
                    let (ip, rest) = addr.split_once(':').ok_or_else(|| bad("bad address"))?;
                    let ip = if ip.is_empty() {
                        None
                    } else {
                        Some(ip.parse().map_err(|_| bad("bad IP address"))?)
                    };
                    (ip, rest)
                }
                0 | 1 => (None, addr),
                _ => return Err(bad("too many colons")),
            },
        };
        let (host, container) = match rest.split_once(':') {
            Some((h, c)) => (h, c),
            None => ("", rest),
        };
        let number = |p: &str, what: &str| -> Result<u16> {
            if p.contains('-') {
                return Err(bad("port ranges are not supported"));
            }
            p.parse::<u16>()
                .map_err(|_| bad(&format!("{what} {p:?} is not a port number")))
        };
        let container_port = number(container, "container port")?;
        if container_port == 0 {
            return Err(bad("the container port cannot be 0"));
        }
        let host_port = if host.is_empty() {
            0
        } else {
            number(host, "host port")?
        };
        Ok(Port {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }

    /// Parse an `EXPOSE`d port of an image config (`80/tcp`) as published
    /// on a free host port (`-P`).
    pub fn exposed(key: &str) -> Result<Port> {
        Port::parse(key)
    }
}

/// Give every port without a host port a free one, and check that each
/// host port can be listened on now — so that a port in use fails the
/// run before anything is made (pasta takes them over a moment later).
pub fn reserve(ports: &mut [Port]) -> Result<()> {
    for port in ports.iter_mut() {
        let ip = port.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let in_use = |e: std::io::Error| {
            Error::new(
                Kind::Conflict,
                format!(
                    "Bind for {}:{} failed: port is already allocated ({e}); choose another host port",
                    match ip {
                        IpAddr::V6(v6) => format!("[{v6}]"),
                        v4 => v4.to_string(),
                    },
                    port.host_port
                ),
            )
        };
        let bound = match port.protocol {
            Protocol::Tcp => TcpListener::bind((ip, port.host_port))
                .and_then(|l| l.local_addr())
                .map_err(in_use)?,
            Protocol::Udp => UdpSocket::bind((ip, port.host_port))
                .and_then(|s| s.local_addr())
                .map_err(in_use)?,
        };
        port.host_port = bound.port();
    }
    Ok(())
}

/// pasta's option for the ports of one protocol: `none`, or
/// `[ADDR/]HOST:CONTAINER,…`.
fn forward_spec(ports: &[Port], protocol: Protocol) -> String {
    let specs: Vec<String> = ports
        .iter()
        .filter(|p| p.protocol == protocol)
        .map(|p| match p.host_ip {
            Some(ip) => format!("{ip}/{}:{}", p.host_port, p.container_port),
            None => format!("{}:{}", p.host_port, p.container_port),
        })
        .collect();
    if specs.is_empty() {
        "none".into()
    } else {
        specs.join(",")
    }
}

/// Whether a published port listens on the host's IPv6 addresses: one
/// published with no address (Docker listens on every address of both
/// versions then) or with an IPv6 one. Docker's default bridge network
/// gives a container IPv4 only (IPv6 only where the daemon enables it), so
/// pasta is told `-4` — nothing of the host's IPv6 copied in, and a good
/// part of pasta's start-up spared — unless a port needs IPv6 on the host:
/// this pasta listens only for the IP versions the namespace has, and then
/// the container has the host's IPv6 too.
fn listens_on_ipv6(ports: &[Port]) -> bool {
    ports
        .iter()
        .any(|p| !matches!(p.host_ip, Some(IpAddr::V4(_))))
}

/// A network namespace made for a container before the runtime runs, so
/// that pasta can connect it while the runtime does its own work; it lives
/// while this handle (and then the container, or pasta) holds it.
#[derive(Debug)]
pub struct Namespace {
    file: File,
}

impl Namespace {
    /// Make a new network namespace. A thread enters it and leaves it to
    /// the file it opened: the calling thread stays where it was.
    pub fn new() -> Result<Namespace> {
        let made = std::thread::spawn(|| -> std::io::Result<File> {
            // Deprecated for the flags that can break a process's
            // invariants (CLONE_FILES, CLONE_NEWUSER); a new network
            // namespace on a thread about to end is not one.
            #[allow(deprecated)]
            rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNET)?;
            File::open("/proc/thread-self/ns/net")
        })
        .join()
        .map_err(|_| Error::invalid("the thread making a network namespace panicked"))?;
        let file = made.map_err(|e| {
            Error::new(
                Kind::FailedPrecondition,
                format!(
                    "cannot make a network namespace ({e}): img-run needs root (or CAP_SYS_ADMIN),                      or run with --network host"
                ),
            )
        })?;
        Ok(Namespace { file })
    }

    /// The path the runtime joins it by: this process's descriptor of it.
    pub fn path(&self) -> String {
        use std::os::fd::AsRawFd;
        format!("/proc/{}/fd/{}", std::process::id(), self.file.as_raw_fd())
    }
}

/// The container's interface, named as Docker names it.
const INTERFACE: &str = "eth0";

/// pasta, started on a container's network namespace and not yet known to
/// be ready. Dropped unready (the run failed meanwhile), it is waited for
/// and ended: no pasta outlives a run that never got to note it.
#[derive(Debug)]
pub struct Starting {
    child: Option<std::process::Child>,
    pid_file: PathBuf,
    holds_ports: bool,
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            if let Ok(helper) = self.finish(child) {
                super::helpers::kill_helper(&helper);
                let _ = std::fs::remove_file(&helper.marker);
            }
        }
    }
}

/// Start connecting `namespace` to the host and publishing `ports`: pasta
/// runs on while the caller goes on; [`Starting::ready`] waits for it.
/// `pid_file` is where pasta writes its ID, and its marker (a path of the
/// container's, on its command line, see `owner.rs`).
pub fn start(namespace: &Namespace, ports: &[Port], pid_file: &Path) -> Result<Starting> {
    // pasta drops its privileges before it opens a namespace by path; the
    // namespace is handed over as its stdin instead.
    let netns = namespace
        .file
        .try_clone()
        .io_context(|| "sharing the network namespace".into())?;
    let _ = std::fs::remove_file(pid_file);
    let mut pasta = Command::new(pasta_program());
    pasta.args([
        "--config-net",
        "--quiet",
        "--runas",
        "0",
        "--ns-ifname",
        INTERFACE,
    ]);
    if !listens_on_ipv6(ports) {
        pasta.arg("-4");
    }
    let child = pasta
        .arg("-t")
        .arg(forward_spec(ports, Protocol::Tcp))
        .arg("-u")
        .arg(forward_spec(ports, Protocol::Udp))
        .args(["-T", "none", "-U", "none", "--netns", "/proc/self/fd/0", "-P"])
        .arg(pid_file)
        .stdin(Stdio::from(netns))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(
                Kind::FailedPrecondition,
                format!(
                    "cannot run {PASTA} for the container's network ({e}): install the passt package, \
                     or run with --network host or none"
                ),
            )
        })?;
    Ok(Starting {
        child: Some(child),
        pid_file: pid_file.to_path_buf(),
        holds_ports: !ports.is_empty(),
    })
}

impl Starting {
    /// The runtime hook that holds the container's process until pasta has
    /// configured the namespace: this program again, under the name
    /// [`READY_HOOK`], given pasta's pid file and its first process (see
    /// [`run_if_ready_hook`]). It exits 0 once the file names pasta's
    /// daemon, 1 when pasta ended without writing it (the runtime then
    /// fails the start, and [`Starting::ready`] says why).
    pub fn hook(&self) -> Result<oci_spec::runtime::Hook> {
        let exe = std::env::current_exe().io_context(|| "finding img's own program".into())?;
        let pid = self
            .child
            .as_ref()
            .map(std::process::Child::id)
            .ok_or_else(|| Error::invalid("pasta was waited for already"))?;
        let mut hook = oci_spec::runtime::Hook::default();
        hook.set_path(exe);
        hook.set_args(Some(vec![
            READY_HOOK.to_string(),
            self.pid_file.display().to_string(),
            pid.to_string(),
        ]));
        Ok(hook)
    }

    /// Wait until pasta has configured the namespace and become a daemon
    /// (its first process exits then); the daemon, noted as a helper.
    pub fn ready(mut self) -> Result<Helper> {
        match self.child.take() {
            Some(child) => self.finish(child),
            None => Err(Error::invalid("pasta was waited for already")),
        }
    }

    fn finish(&self, mut child: std::process::Child) -> Result<Helper> {
        use std::io::Read;
        let mut said = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            // Until pasta and its daemon let go of it.
            let _ = stderr.read_to_string(&mut said);
        }
        // Reaped already by another waiter: then the pid file alone says
        // how it went, as pasta writes it only once the namespace is
        // configured.
        let status = match child.wait() {
            Ok(status) => Some(status),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::CHILD.raw_os_error()) => None,
            Err(e) => return Err(Error::io(format!("waiting for {PASTA}"), e)),
        };
        let said: Vec<&str> = said
            .lines()
            .filter(|l| !l.starts_with("Failed to send") && !l.trim().is_empty())
            .collect();
        if status.is_some_and(|s| !s.success()) {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!(
                    "{PASTA} could not connect the container's network: {}",
                    said.last()
                        .copied()
                        .unwrap_or("it failed without saying why")
                ),
            ));
        }
        let pid = pidfile::read(&self.pid_file)
            .ok_or_else(|| Error::new(Kind::Io, format!("{PASTA} wrote no process ID")))?;
        if self.holds_ports {
            // Without it the port comes free as slowly as before.
            let _ = keep_interface(pid);
        }
        Ok(Helper {
            pid: pid.as_raw_nonzero().get(),
            marker: self.pid_file.display().to_string(),
            holds_ports: self.holds_ports,
        })
    }
}

/// Make the container's interface, pasta's tap device, outlive pasta: its
/// device then goes with the namespace, which the kernel takes down in the
/// background. A device that goes when pasta closes it is unregistered by
/// pasta's exit, which waits for RCU grace periods before it closes the
/// files behind the ports it published: measured here, a published port
/// came free 37 ms (median) after pasta was killed, 15 ms with the device
/// kept. Done through a copy of pasta's own descriptor, once pasta is
/// attached, so that the device's carrier never drops while it runs.
fn keep_interface(pasta: rustix::process::Pid) -> Result<()> {
    use std::os::fd::IntoRawFd;
    let pidfd = rustix::process::pidfd_open(pasta, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::io(format!("opening {PASTA}'s process"), e.into()))?;
    let fds = format!("/proc/{}/fd", pasta.as_raw_nonzero());
    let tap = std::fs::read_dir(&fds)
        .io_context(|| format!("listing {fds}"))?
        .flatten()
        .find(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|to| to == Path::new("/dev/net/tun"))
        })
        .and_then(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .ok_or_else(|| Error::new(Kind::NotFound, format!("{PASTA} has no tap device open")))?;
    let copy = rustix::process::pidfd_getfd(&pidfd, tap, rustix::process::PidfdGetfdFlags::empty())
        .map_err(|e| Error::io(format!("copying {PASTA}'s tap device"), e.into()))?;
    let mut config = tun::Configuration::default();
    config.raw_fd(copy.into_raw_fd()).close_fd_on_drop(true);
    tun::create(&config)
        .and_then(|mut device| device.persist())
        .map_err(|e| Error::new(Kind::Io, format!("keeping the container's interface: {e}")))
}

/// Run as the hook waiting for pasta when this process was started as one
/// (`argv[0]` is [`READY_HOOK`]); programs call this first thing.
pub fn run_if_ready_hook() {
    let mut args = std::env::args_os();
    if args.next().is_some_and(|a| a == READY_HOOK) {
        let pid_file = PathBuf::from(args.next().unwrap_or_default());
        let pasta = args
            .next()
            .and_then(|a| a.to_str()?.parse::<i32>().ok())
            .unwrap_or(0);
        std::process::exit(if wait_ready(&pid_file, pasta) { 0 } else { 1 });
    }
}

/// Whether pasta (its first process `pasta`) wrote `pid_file`, its sign
/// that the namespace is configured: waited for until it is written or
/// that process ended. The process is img's child, not waited for until
/// the container started, so its ID is not reused meanwhile; once it was
/// waited for (a second runtime tried), the file is there already.
fn wait_ready(pid_file: &Path, pasta: i32) -> bool {
    let deadline = std::time::Instant::now() + READY_WAIT;
    let seen = rustix::process::Pid::from_raw(pasta)
        .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok())
        .map(|pidfd| pidfile::wait(pid_file, &pidfd, Some(deadline)));
    match seen {
        Some(Ok(Seen::Written(_))) => true,
        Some(Ok(Seen::Ended | Seen::TimedOut) | Err(_)) => false,
        // Gone already: the file says how it went.
        None => pidfile::read(pid_file).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_docker_takes_them() {
        let p = Port::parse("8080:80").unwrap();
        assert_eq!((p.host_ip, p.host_port, p.container_port), (None, 8080, 80));
        assert_eq!(p.to_string(), "0.0.0.0:8080->80/tcp");
        let p = Port::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.to_string(), "127.0.0.1:8080->80/udp");
        let p = Port::parse("80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p = Port::parse("127.0.0.1::80").unwrap();
        assert_eq!((p.host_port, p.host_ip.is_some()), (0, true));
        let p = Port::parse("[::1]:8080:80").unwrap();
        assert_eq!(p.to_string(), "[::1]:8080->80/tcp");
        for bad in [
            "",
            "x:80",
            "80:x",
            "8080:80/sctp",
            "1.2.3:80:80",
            "80-81:80",
            "8080:0",
            "a:b:c:d",
        ] {
            let err = Port::parse(bad).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidInput, "{bad}");
            assert!(
                err.to_string().contains("invalid port specification"),
                "{err}"
            );
        }
    }

    #[test]
    fn only_a_port_published_on_the_hosts_ipv6_gives_the_container_ipv6() {
        let ports = |specs: &[&str]| -> Vec<Port> {
            specs.iter().map(|s| Port::parse(s).unwrap()).collect()
        };
        assert!(!listens_on_ipv6(&[]));
        assert!(!listens_on_ipv6(&ports(&[
            "127.0.0.1::80",
            "0.0.0.0:8080:81"
        ])));
        assert!(listens_on_ipv6(&ports(&["127.0.0.1::80", "8080:81"])));
        assert!(listens_on_ipv6(&ports(&["[::1]:8080:80"])));
    }

    #[test]
    fn pasta_gets_one_spec_per_protocol() {
        let ports = vec![
            Port::parse("127.0.0.1:8080:80").unwrap(),
            Port::parse("9090:90").unwrap(),
            Port::parse("53:53/udp").unwrap(),
        ];
        assert_eq!(
            forward_spec(&ports, Protocol::Tcp),
            "127.0.0.1/8080:80,9090:90"
        );
        assert_eq!(forward_spec(&ports, Protocol::Udp), "53:53");
        assert_eq!(forward_spec(&[], Protocol::Tcp), "none");
    }

    #[test]
    fn a_port_in_use_is_refused_and_free_ones_are_found() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut ports = vec![Port::parse(&format!("127.0.0.1:{port}:80")).unwrap()];
        let err = reserve(&mut ports).unwrap_err();
        assert!(err.to_string().contains("already allocated"), "{err}");
        let mut ports = vec![Port::parse("127.0.0.1::80").unwrap()];
        reserve(&mut ports).unwrap();
        assert_ne!(ports[0].host_port, 0);
    }
}

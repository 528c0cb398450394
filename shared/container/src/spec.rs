//! The OCI runtime config (`config.json`) of a container, made as Docker
//! makes it for `docker run`: the default mounts (`/proc`, `/dev`,
//! `/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/sys`, `/sys/fs/cgroup`), PID, IPC,
//! UTS and mount namespaces (and a network namespace unless the host's
//! network is shared), Docker's default capability set, the kernel paths
//! Docker masks or makes read-only, `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf` bound from files of the container's own, the user's
//! bind mounts and tmpfs mounts. Resource limits are inherited, as from
//! Docker's daemon. `--privileged` keeps every capability and unmasks the
//! kernel paths.
//!
//! Docker's default seccomp profile filters its system calls (see
//! `seccomp.rs`). Not done (yet): AppArmor profiles, device cgroup rules
//! beyond the runtime's defaults, user namespaces.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxNamespaceType, Mount, Spec,
};

use super::seccomp::{self, Seccomp};
use super::user::User;
use img_core::error::{Error, Result};

/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Which network the container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network namespace.
    Host,
    /// A network namespace of its own, with no interface but loopback.
    None,
    /// A network namespace of its own connected to the host by pasta,
    /// with outbound access and published ports (Docker's default
    /// `bridge`; see `network.rs`).
    Bridge,
}

impl Network {
    /// The mode `--network` names: `bridge`, `none`, or the host's for
    /// `host` (and img-build's `default`, whose RUN steps share the
    /// host's network).
    pub fn parse(mode: &str) -> Network {
        match mode {
            "none" => Network::None,
            "bridge" => Network::Bridge,
            _ => Network::Host,
        }
    }
}

/// A bind mount (`-v /host:/container[:ro]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The host path (absolute).
    pub source: PathBuf,
    /// The path in the container (absolute).
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Bind {
    /// Parse Docker's `-v SRC:DST[:OPTS]` (options `ro`, `rw`).
    pub fn parse(text: &str) -> Result<Bind> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, destination, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => {
                return Err(Error::invalid(format!(
                    "invalid volume {text:?}: give HOST-PATH:CONTAINER-PATH[:ro]"
                )))
            }
        };
        if !source.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid volume {text:?}: named volumes are not supported; give an absolute host path"
            )));
        }
        if !destination.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid volume {text:?}: the container path must be absolute"
            )));
        }
        let mut read_only = false;
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt {
                "ro" => read_only = true,
                "rw" => read_only = false,
                other => {
                    return Err(Error::invalid(format!(
                        "invalid volume {text:?}: unknown option {other:?} (ro or rw)"
                    )))
                }
            }
        }
        Ok(Bind {
            source: PathBuf::from(source),
            destination: destination.to_string(),
            read_only,
        })
    }
}

/// Everything the config is made from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The process's arguments (entrypoint and command).
    pub args: Vec<String>,
    /// Its environment, `KEY=value`.
    pub env: Vec<String>,
    /// Its working directory.
    pub cwd: String,
    /// Who it runs as.
    pub user: User,
    /// Whether it gets a terminal.
    pub terminal: bool,
    /// What it sees of the host and may do.
    pub isolation: Isolation,
    /// The files bound to `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// The network namespace to join (a path), made before the runtime
    /// runs (`network.rs`); the runtime makes one when `None`.
    pub network_namespace: Option<String>,
    /// A hook the runtime runs once it made the container's namespaces and
    /// before anything of the image runs (`createRuntime`): the wait for
    /// pasta (`network.rs`).
    pub ready_hook: Option<oci_spec::runtime::Hook>,
}

/// What a container sees of the host and may do: `docker run`'s flags of
/// that kind. The default is Docker's default container on the host's
/// network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Isolation {
    /// The container's host name.
    pub hostname: String,
    /// Its network.
    pub network: Network,
    /// Mount the root filesystem read-only.
    pub read_only: bool,
    /// All capabilities, no masked paths.
    pub privileged: bool,
    /// Capabilities added to Docker's defaults (`ALL` for every one).
    pub cap_add: Vec<String>,
    /// Capabilities removed from them (`ALL` for every one).
    pub cap_drop: Vec<String>,
    /// Bind mounts.
    pub binds: Vec<Bind>,
    /// tmpfs mounts (container paths).
    pub tmpfs: Vec<String>,
    /// Ports published on the host (with [`Network::Bridge`]).
    pub ports: Vec<super::network::Port>,
    /// The system calls it may make (Docker's default profile unless
    /// `--security-opt seccomp=…`; none with `privileged`).
    pub seccomp: Seccomp,
    /// `--security-opt no-new-privileges`: setuid programs and file
    /// capabilities give it nothing more.
    pub no_new_privileges: bool,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            hostname: String::new(),
            network: Network::Host,
            read_only: false,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            binds: Vec::new(),
            tmpfs: Vec::new(),
            ports: Vec::new(),
            seccomp: Seccomp::Default,
            no_new_privileges: false,
        }
    }
}

impl Isolation {
    /// Apply one `--security-opt` as Docker takes it: `seccomp=unconfined`
    /// or `seccomp=FILE` (a profile of Docker's format, read now),
    /// `no-new-privileges[=true|false]`; `apparmor=unconfined` and
    /// `label=disable` ask for what img does anyway (it applies no AppArmor
    /// or SELinux profile). Docker's older `KEY:VALUE` form is taken too.
    pub fn security_opt(&mut self, opt: &str) -> Result<()> {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None => opt.split_once(':').unwrap_or((opt, "")),
        };
        match (key, value) {
            ("seccomp", profile) if !profile.is_empty() => {
                self.seccomp = Seccomp::parse(profile)?;
            }
            ("no-new-privileges", "" | "true") => self.no_new_privileges = true,
            ("no-new-privileges", "false") => self.no_new_privileges = false,
            ("apparmor", "unconfined") | ("label", "disable") => {}
            _ => {
                return Err(Error::invalid(format!(
                    "invalid --security-opt {opt:?}: img takes seccomp=unconfined|FILE and no-new-privileges \
                     (it applies no AppArmor or SELinux profile)"
                )))
            }
        }
        Ok(())
    }
}

/// Parse a capability name as Docker takes it: `NET_ADMIN` or
/// `CAP_NET_ADMIN`, any case.
fn capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse()
        .map_err(|_| Error::invalid(format!("unknown capability {name:?}")))
}

/// The capability set for the options.
fn capabilities(options: &Isolation) -> Result<Capabilities> {
    let all: Capabilities = all_capabilities();
    if options.privileged {
        return Ok(all);
    }
    let mut caps: Capabilities = DEFAULT_CAPS.iter().copied().collect();
    let is_all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    if is_all(&options.cap_drop) {
        caps.clear();
    } else {
        for name in &options.cap_drop {
            caps.remove(&capability(name)?);
        }
    }
    if is_all(&options.cap_add) {
        caps = all;
    } else {
        for name in &options.cap_add {
            caps.insert(capability(name)?);
        }
    }
    Ok(caps)
}

fn all_capabilities() -> Capabilities {
    use std::str::FromStr;
    // Capabilities the kernel numbers 0 to 40, by their names.
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    // As Docker's daemon: every capability this process may hand on (its
    // bounding set); asking the runtime for one outside it fails.
    let bounding = bounding_set();
    NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .filter_map(|(_, n)| Capability::from_str(n).ok())
        .collect()
}

/// This process's bounding set as the kernel numbers it (all bits when
/// /proc cannot say).
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// Make the runtime config.
pub fn build(options: &Options) -> Result<Spec> {
    let mut spec = Spec::default();
    let iso = &options.isolation;
    let caps = capabilities(iso)?;
    // As Docker: a privileged container is never filtered.
    let seccomp = if iso.privileged {
        None
    } else {
        let names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        seccomp::for_container(&iso.seccomp, &names)?
    };
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| Error::invalid("the default runtime config has no process"))?;
    process.set_args(Some(options.args.clone()));
    process.set_env(Some(options.env.clone()));
    process.set_cwd(PathBuf::from(&options.cwd));
    process.set_terminal(Some(options.terminal));
    process.set_no_new_privileges(Some(iso.no_new_privileges));
    // Docker sets no limits of its own: the daemon's are inherited.
    process.set_rlimits(None);
    let user = process.user_mut();
    user.set_uid(options.user.uid);
    user.set_gid(options.user.gid);
    user.set_additional_gids(
        (!options.user.groups.is_empty()).then(|| options.user.groups.clone()),
    );
    let mut set = LinuxCapabilities::default();
    set.set_bounding(Some(caps.clone()));
    set.set_effective(Some(caps.clone()));
    set.set_permitted(Some(caps));
    set.set_inheritable(None);
    set.set_ambient(None);
    process.set_capabilities(Some(set));

    if let Some(root) = spec.root_mut().as_mut() {
        root.set_path(PathBuf::from("rootfs"));
        root.set_readonly(Some(iso.read_only));
    }
    spec.set_hostname(Some(iso.hostname.clone()));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if iso.privileged {
        // Docker mounts /sys read-write for privileged containers.
        for m in &mut mounts {
            if m.destination() == &PathBuf::from("/sys") {
                m.set_options(Some(vec!["nosuid".into(), "noexec".into(), "nodev".into()]));
            }
        }
    }
    for (source, destination) in &options.etc_files {
        mounts.push(bind(source.clone(), destination, false));
    }
    for b in &iso.binds {
        mounts.push(bind(b.source.clone(), &b.destination, b.read_only));
    }
    for destination in &iso.tmpfs {
        let mut m = Mount::default();
        m.set_destination(PathBuf::from(destination));
        m.set_typ(Some("tmpfs".into()));
        m.set_source(Some(PathBuf::from("tmpfs")));
        m.set_options(Some(vec!["nosuid".into(), "nodev".into(), "noexec".into()]));
        mounts.push(m);
    }
    spec.set_mounts(Some(mounts));

    let linux = spec
        .linux_mut()
        .as_mut()
        .ok_or_else(|| Error::invalid("the default runtime config has no linux section"))?;
    if let Some(namespaces) = linux.namespaces_mut().as_mut() {
        // Docker shares the host's cgroup namespace on cgroup v1 hosts and
        // makes a private one on v2; the runtimes handle either.
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Cgroup);
        if iso.network == Network::Host {
            namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
        }
        if let Some(path) = &options.network_namespace {
            for ns in namespaces.iter_mut() {
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(Some(PathBuf::from(path)));
                }
            }
        }
    }
    if iso.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    linux.set_seccomp(seccomp);
    if let Some(hook) = &options.ready_hook {
        let mut hooks = oci_spec::runtime::Hooks::default();
        hooks.set_create_runtime(Some(vec![hook.clone()]));
        spec.set_hooks(Some(hooks));
    }
    Ok(spec)
}

fn bind(source: PathBuf, destination: &str, read_only: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source));
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    if read_only {
        opts.push("ro".into());
    }
    m.set_options(Some(opts));
    m
}

/// The capabilities named, for tests and messages.
pub fn names(caps: &Capabilities) -> HashSet<String> {
    caps.iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: User {
                uid: 0,
                gid: 0,
                groups: vec![],
                home: "/root".into(),
            },
            terminal: false,
            isolation: Isolation {
                hostname: "abc".into(),
                ..Isolation::default()
            },
            etc_files: vec![],
            network_namespace: None,
            ready_hook: None,
        }
    }

    #[test]
    fn privileged_gets_what_this_process_may_hand_on() {
        let p = Isolation {
            privileged: true,
            ..Isolation::default()
        };
        let all = capabilities(&p).unwrap();
        assert_eq!(all.len() as u32, bounding_set().count_ones().min(41));
    }

    #[test]
    fn capabilities_follow_dockers_defaults_and_flags() {
        let caps = capabilities(&options().isolation).unwrap();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
        let mut o = Isolation {
            cap_add: vec!["cap_sys_admin".into()],
            cap_drop: vec!["NET_RAW".into()],
            ..Isolation::default()
        };
        let caps = capabilities(&o).unwrap();
        assert!(caps.contains(&Capability::SysAdmin) && !caps.contains(&Capability::NetRaw));
        o.cap_drop = vec!["ALL".into()];
        o.cap_add = vec!["CHOWN".into()];
        assert_eq!(
            names(&capabilities(&o).unwrap()),
            ["CHOWN".to_string()].into()
        );
        o.cap_add = vec!["NOT_A_CAP".into()];
        assert!(capabilities(&o).is_err());
        let p = Isolation {
            privileged: true,
            ..Isolation::default()
        };
        assert!(capabilities(&p).unwrap().len() >= 30);
    }

    #[test]
    fn the_config_says_what_the_options_say() {
        let mut o = options();
        o.isolation.network = Network::None;
        o.isolation.binds = vec![Bind::parse("/srv/data:/data:ro").unwrap()];
        o.isolation.tmpfs = vec!["/run".into()];
        let spec = build(&o).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(json["hostname"], "abc");
        assert_eq!(json["root"]["path"], "rootfs");
        assert!(json["process"].get("rlimits").is_none());
        let namespaces: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(namespaces.contains(&"network") && namespaces.contains(&"pid"));
        let data = json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/data")
            .unwrap();
        assert_eq!(data["source"], "/srv/data");
        assert!(data["options"].as_array().unwrap().contains(&"ro".into()));
        o.isolation.network = Network::Host;
        let host = serde_json::to_value(build(&o).unwrap()).unwrap();
        let has_net = host["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network");
        assert!(!has_net);
    }

    #[test]
    fn volumes_parse_as_docker_takes_them() {
        let b = Bind::parse("/a:/b").unwrap();
        assert_eq!((b.destination.as_str(), b.read_only), ("/b", false));
        assert!(Bind::parse("named:/b")
            .unwrap_err()
            .to_string()
            .contains("named volumes"));
        assert!(Bind::parse("/a:b").is_err());
        assert!(Bind::parse("/a:/b:zz").is_err());
        assert!(Bind::parse("/a").is_err());
    }
}

//! Seccomp: the system calls a container may make, as Docker filters them.
//!
//! Every container gets Docker's default profile (`shared/container/data/seccomp/`:
//! moby's `default.json`, checked in unchanged with its source and
//! license), unless `--security-opt seccomp=unconfined` (or
//! `--privileged`, as with Docker) turns filtering off or
//! `--security-opt seccomp=FILE` names a profile of the same format.
//!
//! A profile in Docker's format is a runtime config's `linux.seccomp` plus
//! conditions: the architectures to filter (`archMap`, keyed by the
//! native one), and for each rule `includes`/`excludes` of architectures,
//! capabilities and a least kernel version. [`for_container`] resolves
//! them as moby's `setupSeccomp` does: the rules kept are those for this
//! machine's architecture and kernel and the container's bounding
//! capabilities (so `--cap-add SYS_ADMIN` also allows `mount` and
//! `unshare`, as with Docker). What the profile denies fails with EPERM
//! (its `defaultErrnoRet`).

use std::sync::OnceLock;

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use img_core::error::{Error, Result};

/// Docker's default profile, as moby ships it.
const DEFAULT_PROFILE: &str = include_str!("../data/seccomp/default.json");

/// Which filter a container gets (`--security-opt seccomp=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "profile")]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A profile of Docker's format, read from the file given when the
    /// container was made.
    Profile(Value),
}

impl Seccomp {
    /// `--security-opt seccomp=VALUE`: `unconfined`, or a profile file
    /// (read and checked now, as Docker's client reads it).
    pub fn parse(value: &str) -> Result<Seccomp> {
        if value == "unconfined" {
            return Ok(Seccomp::Unconfined);
        }
        let text = std::fs::read_to_string(value)
            .map_err(|e| Error::io(format!("reading the seccomp profile {value}"), e))?;
        let profile: Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("the seccomp profile {value} is not JSON: {e}")))?;
        // Resolved once with no capabilities: a profile that does not
        // convert is refused before anything is made.
        resolve(&profile, &[])
            .map_err(|e| Error::invalid(format!("the seccomp profile {value}: {e}")))?;
        Ok(Seccomp::Profile(profile))
    }
}

/// The runtime config's `linux.seccomp` for a container with the bounding
/// capabilities `caps` (names such as `CAP_SYS_ADMIN`); `None` when it runs
/// unconfined.
pub fn for_container(seccomp: &Seccomp, caps: &[String]) -> Result<Option<LinuxSeccomp>> {
    match seccomp {
        Seccomp::Unconfined => Ok(None),
        Seccomp::Default => resolve(default_profile()?, caps).map(Some),
        Seccomp::Profile(profile) => resolve(profile, caps).map(Some),
    }
}

fn default_profile() -> Result<&'static Value> {
    static PARSED: OnceLock<std::result::Result<Value, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| serde_json::from_str(DEFAULT_PROFILE).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::invalid(format!("the built-in seccomp profile: {e}")))
}

/// This machine's architecture in the profiles' words (Go's names, as
/// libseccomp's native ones) and as a seccomp architecture.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" => ("x86", "SCMP_ARCH_X86"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "loongarch64" => ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
        other => (other, ""),
    }
}

/// The running kernel's version, major and minor.
fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    version(&release).unwrap_or((0, 0))
}

fn version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn bare(cap: &str) -> &str {
    cap.strip_prefix("CAP_").unwrap_or(cap)
}

/// A profile of Docker's format resolved for this machine and `caps`.
fn resolve(profile: &Value, caps: &[String]) -> Result<LinuxSeccomp> {
    let Some(fields) = profile.as_object() else {
        return Err(Error::invalid("a seccomp profile is a JSON object"));
    };
    let (arch, seccomp_arch) = native_arch();
    let kernel = kernel();
    let has_cap = |c: &Value| {
        c.as_str()
            .is_some_and(|c| caps.iter().any(|have| bare(have) == bare(c)))
    };
    let min_kernel_met = |v: &Value| -> Result<bool> {
        let text = v.as_str().unwrap_or_default();
        let wanted = version(text)
            .ok_or_else(|| Error::invalid(format!("minKernel {text:?} is not a version")))?;
        Ok(kernel >= wanted)
    };
    let list = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let mut out: Map<String, Value> = fields.clone();
    out.remove("archMap");
    out.remove("syscalls");
    if fields.contains_key("architectures") && fields.contains_key("archMap") {
        return Err(Error::invalid(
            "both 'architectures' and 'archMap' are given: use one",
        ));
    }
    if let Some(map) = fields.get("archMap").and_then(Value::as_array) {
        let mut arches = Vec::new();
        for entry in map {
            if entry.get("architecture").and_then(Value::as_str) == Some(seccomp_arch) {
                arches.push(Value::from(seccomp_arch));
                arches.extend(list(entry.get("subArchitectures")));
            }
        }
        out.insert("architectures".into(), Value::Array(arches));
    }
    let mut syscalls = Vec::new();
    'rules: for rule in list(fields.get("syscalls")) {
        let Some(rule) = rule.as_object() else {
            return Err(Error::invalid("a syscalls entry is not an object"));
        };
        let mut kept = rule.clone();
        for key in ["includes", "excludes", "comment"] {
            kept.remove(key);
        }
        if let Some(name) = kept.remove("name") {
            if kept.contains_key("names") {
                return Err(Error::invalid("both 'name' and 'names' are given: use one"));
            }
            kept.insert("names".into(), Value::Array(vec![name]));
        }
        if let Some(excludes) = rule.get("excludes") {
            if list(excludes.get("arches")).iter().any(|a| a == arch)
                || list(excludes.get("caps")).iter().any(has_cap)
            {
                continue 'rules;
            }
            if let Some(v) = excludes.get("minKernel") {
                if min_kernel_met(v)? {
                    continue 'rules;
                }
            }
        }
        if let Some(includes) = rule.get("includes") {
            let arches = list(includes.get("arches"));
            if !arches.is_empty() && !arches.iter().any(|a| a == arch) {
                continue 'rules;
            }
            if !list(includes.get("caps")).iter().all(has_cap) {
                continue 'rules;
            }
            if let Some(v) = includes.get("minKernel") {
                if !min_kernel_met(v)? {
                    continue 'rules;
                }
            }
        }
        syscalls.push(Value::Object(kept));
    }
    out.insert("syscalls".into(), Value::Array(syscalls));
    serde_json::from_value(Value::Object(out)).map_err(|e| Error::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(seccomp: &LinuxSeccomp) -> Vec<String> {
        seccomp
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActAllow)
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn the_default_profile_allows_by_capability_as_dockers_does() {
        let plain = for_container(&Seccomp::Default, &["CAP_CHOWN".into()])
            .unwrap()
            .unwrap();
        assert_eq!(plain.default_errno_ret(), Some(1));
        let allowed = names(&plain);
        assert!(allowed.contains(&"read".to_string()));
        for denied in ["mount", "unshare", "keyctl", "add_key", "reboot"] {
            assert!(!allowed.contains(&denied.to_string()), "{denied}");
        }
        if std::env::consts::ARCH == "x86_64" {
            let arches = serde_json::to_value(plain.architectures()).unwrap();
            assert_eq!(
                arches,
                serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }
        let admin = for_container(&Seccomp::Default, &["CAP_SYS_ADMIN".into()])
            .unwrap()
            .unwrap();
        let allowed = names(&admin);
        assert!(allowed.contains(&"mount".to_string()) && allowed.contains(&"unshare".to_string()));
        assert!(for_container(&Seccomp::Unconfined, &[]).unwrap().is_none());
    }

    #[test]
    fn profiles_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(
            &path,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","includes":{"minKernel":"3.0"}},{"names":["chmod"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_FOWNER"]}}]}"#,
        )
        .unwrap();
        let profile = Seccomp::parse(path.to_str().unwrap()).unwrap();
        let resolved = for_container(&profile, &["FOWNER".into()])
            .unwrap()
            .unwrap();
        let rules = resolved.syscalls().clone().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].names(), &["mkdir".to_string()]);
        for bad in [
            "not json",
            "[]",
            r#"{"defaultAction":"SCMP_ACT_NOPE"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":[],"archMap":[]}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(Seccomp::parse(path.to_str().unwrap()).is_err(), "{bad}");
        }
        assert!(Seccomp::parse("/no/such/profile.json").is_err());
        assert_eq!(Seccomp::parse("unconfined").unwrap(), Seccomp::Unconfined);
    }

    #[test]
    fn kernel_versions_compare_by_major_and_minor() {
        assert_eq!(version("6.18.44-fc-v1272"), Some((6, 18)));
        assert_eq!(version("4.8"), Some((4, 8)));
        assert_eq!(version("x"), None);
    }
}

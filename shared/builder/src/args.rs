//! Build arguments, scoped as Docker scopes them.
//!
//! `--build-arg NAME=VALUE` (or `NAME`, taking img-build's own value) sets
//! values; an `ARG NAME[=default]` declares a name, and only declared names
//! are visible. ARGs before the first FROM are global: FROM lines see them,
//! and a stage sees one only after declaring it again (without a default,
//! it then takes the global value). BuildKit's platform arguments
//! (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`,
//! `BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`) are declared
//! globally by the builder. The proxy variables (`HTTP_PROXY` and the
//! others) need no declaration: given as build arguments, RUN sees them.
//! Values are visible to expansion and to RUN's environment, never stored
//! in the image config.

use std::collections::{BTreeMap, BTreeSet};

use img_core::platform::Platform;

/// Build arguments RUN sees without an ARG, as Docker's builder allows.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The values given on the command line, and which were used.
#[derive(Debug, Clone, Default)]
pub struct Given {
    values: BTreeMap<String, String>,
    used: BTreeSet<String>,
}

impl Given {
    /// From `--build-arg` values: `NAME=VALUE`, or `NAME` for img-build's
    /// own environment value (left out when it has none).
    pub fn parse(flags: &[String]) -> Given {
        let mut values = BTreeMap::new();
        for flag in flags {
            match flag.split_once('=') {
                Some((k, v)) => {
                    values.insert(k.to_string(), v.to_string());
                }
                None => {
                    if let Ok(v) = std::env::var(flag) {
                        values.insert(flag.clone(), v);
                    }
                }
            }
        }
        Given {
            values,
            used: BTreeSet::new(),
        }
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let value = self.values.get(name).cloned();
        if value.is_some() {
            self.used.insert(name.to_string());
        }
        value
    }

    /// Count as used what `other` (a copy of these, used by a stage built
    /// beside others) used.
    pub fn absorb(&mut self, other: &Given) {
        self.used.extend(other.used.iter().cloned());
    }

    /// The names given but never declared, for Docker's warning.
    pub fn unused(&self) -> Vec<String> {
        self.values
            .keys()
            .filter(|k| !self.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The arguments one scope (the global one, or a stage) has declared.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Declared names and their values (`None`: declared, no value).
    declared: BTreeMap<String, Option<String>>,
    /// The names declared in this scope, in the order first declared.
    order: Vec<String>,
    /// Proxy values, visible to RUN only.
    proxies: BTreeMap<String, String>,
}

impl Scope {
    /// The global scope: the platform arguments, for building on and for
    /// `platform`.
    pub fn global(platform: &Platform, given: &mut Given) -> Scope {
        let mut scope = Scope::default();
        let host = Platform::host();
        let pairs = [
            ("TARGETPLATFORM", platform.to_string()),
            ("TARGETOS", platform.os.clone()),
            ("TARGETARCH", platform.architecture.clone()),
            (
                "TARGETVARIANT",
                platform.variant.clone().unwrap_or_default(),
            ),
            ("BUILDPLATFORM", host.to_string()),
            ("BUILDOS", host.os.clone()),
            ("BUILDARCH", host.architecture.clone()),
            ("BUILDVARIANT", host.variant.clone().unwrap_or_default()),
        ];
        for (name, value) in pairs {
            scope.declared.insert(name.to_string(), Some(value));
        }
        for name in PROXY_ARGS {
            if let Some(v) = given.take(name) {
                scope.proxies.insert((*name).to_string(), v);
            }
        }
        scope
    }

    /// A stage's scope: only the proxies carry over from the global one.
    pub fn stage(global: &Scope) -> Scope {
        Scope {
            declared: BTreeMap::new(),
            order: Vec::new(),
            proxies: global.proxies.clone(),
        }
    }

    /// `ARG name[=default]`: the given value, else the default, else (in a
    /// stage) the global value of that name; returns the value taken.
    pub(crate) fn declare(
        &mut self,
        name: &str,
        default: Option<String>,
        given: &mut Given,
        global: Option<&Scope>,
    ) -> Option<String> {
        let value = given
            .take(name)
            .or(default)
            .or_else(|| global.and_then(|g| g.get(name)));
        if !self.declared.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.declared.insert(name.to_string(), value.clone());
        value
    }

    /// The value of a declared argument.
    pub fn get(&self, name: &str) -> Option<String> {
        self.declared.get(name).cloned().flatten()
    }

    /// `NAME=value` for every declared argument with a value, and the
    /// proxies: what RUN adds to its environment (under the image's ENV).
    pub fn environment(&self) -> Vec<String> {
        self.declared
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .chain(self.proxies.iter().map(|(k, v)| format!("{k}={v}")))
            .collect()
    }

    /// The declared arguments as BuildKit writes them into a RUN's
    /// history (`A=1 B=`): in the order declared, each with the value
    /// `lookup` gives it (the image's ENV wins over the argument), empty
    /// when it has none.
    pub(crate) fn history_args(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        self.order
            .iter()
            .map(|name| format!("{name}={}", lookup(name).unwrap_or_default()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_dockers_rules() {
        let mut given = Given::parse(&["V=2".into(), "UNUSED=x".into(), "http_proxy=p".into()]);
        let platform = Platform::parse("linux/arm64").unwrap();
        let mut global = Scope::global(&platform, &mut given);
        global.declare("V", Some("1".into()), &mut given, None);
        global.declare("BASE", Some("busybox".into()), &mut given, None);
        assert_eq!(global.get("V").as_deref(), Some("2"), "the flag wins");
        assert_eq!(global.get("TARGETARCH").as_deref(), Some("arm64"));
        let mut stage = Scope::stage(&global);
        assert_eq!(stage.get("BASE"), None, "globals need declaring again");
        stage.declare("BASE", None, &mut given, Some(&global));
        assert_eq!(stage.get("BASE").as_deref(), Some("busybox"));
        stage.declare("LOCAL", Some("l".into()), &mut given, Some(&global));
        assert_eq!(
            stage.environment(),
            ["BASE=busybox", "LOCAL=l", "http_proxy=p"]
        );
        stage.declare("EMPTY", None, &mut given, Some(&global));
        assert_eq!(
            stage.history_args(&|n| stage.get(n)),
            ["BASE=busybox", "LOCAL=l", "EMPTY="]
        );
        assert_eq!(given.unused(), ["UNUSED"]);
    }
}

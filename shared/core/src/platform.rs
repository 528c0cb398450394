//! Platforms as `os/arch[/variant]`, with Go's names for architectures
//! (what images and registries use). `--platform` values are parsed once into
//! [`Platform`]; matching follows containerd's rule that a missing variant
//! matches any variant, and that `arm64` means `arm64/v8`.

use std::fmt;

use crate::error::{Error, Result};

/// An image platform: operating system, architecture and optional variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// Go's architecture name: `amd64`, `arm64`, `arm`, …
    pub architecture: String,
    /// `v7`, `v8`, … when the architecture has variants.
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]`, or `arch` alone (meaning linux), as
    /// `docker --platform` accepts; architecture aliases are normalized
    /// (`x86_64` → `amd64`, `aarch64` → `arm64`).
    pub fn parse(text: &str) -> Result<Platform> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid platform {text:?}: {why} (expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7)"
            ))
        };
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("it has an empty part"));
        }
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad("too many parts")),
        };
        let valid = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !valid(os) || !valid(arch) || !variant.is_none_or(valid) {
            return Err(bad("only letters, digits, '_' and '-' are allowed"));
        }
        Ok(Platform::new(os, arch, variant))
    }

    /// A platform from its parts, with the architecture normalized.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let (architecture, default_variant) = normalize_arch(&architecture.to_ascii_lowercase());
        let variant = variant
            .map(str::to_ascii_lowercase)
            .or(default_variant.map(str::to_string));
        // arm64's only variant is v8, which images usually leave out.
        let variant = match (architecture.as_str(), variant.as_deref()) {
            ("arm64", Some("v8")) => None,
            _ => variant,
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// The platform of this machine.
    pub fn host() -> Platform {
        Platform::new("linux", host_arch(), None)
    }

    /// Whether an image built for `other` serves a request for `self`: same
    /// os and architecture, and the same variant when `self` names one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Platform> {
        Platform::parse(s)
    }
}

fn normalize_arch(arch: &str) -> (String, Option<&'static str>) {
    match arch {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), None),
        "aarch64" | "arm64" => ("arm64".into(), None),
        "armhf" | "armv7l" | "armv7" => ("arm".into(), Some("v7")),
        "armel" | "armv6l" | "armv6" => ("arm".into(), Some("v6")),
        "i386" | "i686" | "x86" | "386" => ("386".into(), None),
        other => (other.to_string(), None),
    }
}

/// The Go architecture name of this machine (`amd64`, `arm64`, …).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The host platform, `linux/<arch>`.
pub fn host() -> String {
    Platform::host().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        for (input, want) in [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("amd64", "linux/amd64"),
            ("linux/arm/v7", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/arm64/v8", "linux/arm64"),
            ("Linux/ARM64", "linux/arm64"),
        ] {
            assert_eq!(Platform::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in ["", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_variant_matches_any() {
        let arm = Platform::parse("linux/arm").unwrap();
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm.matches(&arm7));
        assert!(!arm7.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(!Platform::parse("linux/amd64").unwrap().matches(&arm7));
    }
}

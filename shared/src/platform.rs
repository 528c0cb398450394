//! Platforms as `os/arch[/variant]`, with Go's names for architectures
//! (what images and registries use).

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
    format!("linux/{}", host_arch())
}

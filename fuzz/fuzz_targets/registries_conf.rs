//! `RegistriesConf::parse` on any text: an error or a configuration, never
//! a panic; and what parses rewrites references for pulls and pushes (the
//! prefix matching and slicing) without panicking either.

#![no_main]

use std::path::Path;

use img_core::reference::Reference;
use img_registry::RegistriesConf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = RegistriesConf::default().add_hub_mirror(text);
    let Ok(conf) = RegistriesConf::parse(text, Path::new("fuzz.conf")) else {
        return;
    };
    for name in [
        "busybox",
        "example.com/foo/bar:1",
        "a.b.example.com:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "localhost/x/y:z",
    ] {
        let reference = Reference::parse(name).expect("a valid reference");
        let _ = conf.pull_endpoints(&reference);
        let _ = conf.push_reference(&reference);
    }
    let _ = conf.check_host("example.com");
    let _ = conf.insecure("example.com:5000");
});

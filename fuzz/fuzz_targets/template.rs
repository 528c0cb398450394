//! A Go template (`-f`/`--format` of img-inspect, img-ls, img-history) from
//! any text, rendered against the shape of an image's inspect output: an
//! error or text, never a panic (nor a run without end).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|text: &str| {
    let item = json!({
        "Id": "sha256:0123",
        "RepoTags": ["busybox:latest", "a/b:1"],
        "Config": {"Cmd": ["sh"], "Env": ["A=1"], "Labels": {"x": "y"}, "Entrypoint": null},
        "Size": 4261000,
        "Created": "2026-11-01T10:00:00Z",
        "RootFS": {"Type": "layers", "Layers": ["sha256:aa", "sha256:bb"]},
    });
    let Ok(data) = img_core::template::data(&item) else {
        return;
    };
    if let Ok(format) = img_core::template::Format::parse(text) {
        let _ = format.render(&data);
    }
    let _ = img_core::template::RowFormat::parse(Some(text), &[("ID", "IMAGE ID")]);
});

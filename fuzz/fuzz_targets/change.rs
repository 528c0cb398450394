//! A `--change` (img-commit, img-import: Dockerfile instructions applied to
//! a config) from any text, applied to a config with every field a change
//! touches: an error or a changed config, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

fuzz_target!(|text: &str| {
    let Value::Object(mut config) = json!({
        "Env": ["PATH=/usr/bin:/bin", "HOME=/root"],
        "Cmd": ["sh"],
        "Entrypoint": null,
        "Labels": {"a": "b"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "User": "1000",
        "OnBuild": ["RUN true"],
    }) else {
        return;
    };
    let _ = img_dockerfile::change::apply(&mut config, text);
    let mut empty = Map::new();
    let _ = img_dockerfile::change::apply_all(
        &mut empty,
        &text.lines().map(String::from).collect::<Vec<_>>(),
    );
    let _ = img_dockerfile::change::exposed_ports(text);
});

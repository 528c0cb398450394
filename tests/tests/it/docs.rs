//! The checked-in man pages match the clap definitions.

use img_tests::docs;

#[test]
fn man_pages_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    let mut stale = Vec::new();
    for (name, want) in docs::man_pages().unwrap() {
        if std::fs::read(dir.join(&name)).ok().as_deref() != Some(&want[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "man pages are stale or missing: {stale:?}; run `just man` and commit man/"
    );
    let overview = std::fs::read_to_string(dir.join("img.7")).expect("man/img.7 is missing");
    for command in docs::commands() {
        let name = command.get_name().replace('-', "\\-");
        assert!(
            overview.contains(&format!(".BR {name} (1)")),
            "img.7 does not refer to {name}(1)"
        );
    }
}

#[test]
fn every_program_has_a_documented_command() {
    let bins: Vec<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bins"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    let documented: Vec<String> = docs::commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect();
    for bin in &bins {
        assert!(
            documented.contains(bin),
            "{bin} is missing from tests/src/docs.rs commands()"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    docs::write_completions(dir.path()).unwrap();
    for command in docs::commands() {
        let name = command.get_name();
        for file in [
            format!("bash/{name}.bash"),
            format!("zsh/_{name}"),
            format!("fish/{name}.fish"),
        ] {
            let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
            assert!(text.contains(name), "{file} does not complete {name}");
        }
    }
}

//! A full disk (defect 3 of issue 11): the programs say the disk is full
//! (exit 1, never "corrupt archive"), a pull says how much it still needed
//! and what frees space, and the space its partial downloads hold can be
//! reclaimed on demand (`img-prune --system`), whatever their age.

use img_tests::disk::SmallDisk;
use img_tests::registry::{big_fixture, Registry};
use img_tests::{need, Env};

#[test]
fn a_pull_that_fills_the_disk_says_what_it_needed_and_prune_a_frees_it() {
    if !need(&["docker-registry", "skopeo", "umoci", "openssl"]) {
        return;
    }
    let env = Env::new();
    let registry = Registry::open();
    registry.skopeo_push(&big_fixture(), "big", "big:1");
    // 40 MiB: the 80 MiB layer cannot fit.
    let disk = SmallDisk::mount(&env.path("small"), "40m");
    let root = disk.path().join("store");
    let before = disk.free();
    let run = env
        .sh(&format!(
            "img-pull -q --root {} {}/big:1",
            root.display(),
            registry.host
        ))
        .code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "img-pull: error: pulling {}/big:1: the disk is full: this pull needs ",
            registry.host
        )),
        "{}",
        run.stderr
    );
    for words in [
        "more, and the file system of",
        "has 0B free; make room and run it again (img-prune --system -f removes the partial downloads no pull holds (",
        "No space left on device",
    ] {
        assert!(run.stderr.contains(words), "{words:?} in {}", run.stderr);
    }
    assert!(disk.free() < 1 << 20, "the pull filled the disk");
    // The plain prune keeps a fresh partial download for the next pull;
    // --system takes it, whatever its age.
    let at = |args: &str| format!("{args} --root {}", root.display());
    let partials = || {
        std::fs::read_dir(root.join(".img/ingest"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            // the data files (`partial-HEX`), not their `.ranges`
            .filter(|n| n.starts_with("partial-") && n.len() == 72)
            .count()
    };
    assert_eq!(partials(), 1, "the pull keeps what it downloaded");
    env.sh(&at("img-prune -f")).ok();
    assert_eq!(partials(), 1, "img-prune -f keeps a fresh download");
    let run = env.sh(&at("img-prune --system -f")).ok();
    assert!(
        run.stdout.contains("Total reclaimed space: 4"),
        "{}",
        run.stdout
    );
    assert!(
        disk.free() + (1 << 20) > before,
        "img-prune --system freed the disk: {} of {before} free",
        disk.free()
    );
    let ingest = std::fs::read_dir(root.join(".img/ingest")).unwrap().count();
    assert_eq!(ingest, 0, "no partial download left");
    img_tests::check_layout(&root);
}

#[test]
fn img_load_on_a_full_disk_says_so_and_changes_nothing() {
    if !need(&["skopeo", "umoci"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("img-save -o busybox.tar busybox").ok();
    let disk = SmallDisk::mount(&env.path("small"), "1m");
    let root = disk.path().join("store");
    env.sh(&format!("img-ls -q --root {}", root.display())).ok();
    let index = std::fs::read(root.join("index.json")).unwrap();
    for input in ["-i busybox.tar", "< busybox.tar", "< <(cat busybox.tar)"] {
        let run = env
            .sh(&format!("img-load --root {} {input}", root.display()))
            .code(1);
        assert!(
            run.stderr
                .starts_with("img-load: error: the disk is full: loading "),
            "{input}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("corrupt"), "{}", run.stderr);
        assert_eq!(std::fs::read(root.join("index.json")).unwrap(), index);
        img_tests::check_layout(&root);
    }
}

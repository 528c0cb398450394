//! The hostile-input suite: every case of `img_tests::hostile` through every
//! entry point that takes a layer — img-layer apply, img-import,
//! img-commit, img-load (OCI, Docker and legacy archives, from a file and
//! from a pipe), img-pull from the real registry, img-build (ADD, and FROM
//! an image that another tool put into the store), img-run and img-export
//! --output-dir. After each: the victims are intact, their content shows up
//! in no output and nowhere in the store, a refused layer (exit 2) stored
//! and named nothing, and the store verifies clean.
//! One store per entry point, one registry for the pulls, layers built in
//! memory.

use std::path::{Path, PathBuf};

use img_tests::archive::snapshot;
use img_tests::hostile::image::{self, Image, Layer};
use img_tests::hostile::tar::{self, Entry};
use img_tests::hostile::{cases, Case, Victims};
use img_tests::registry::Registry;
use img_tests::{need, Env, Run};

/// A store, victims beside it, and the cases aimed at them.
struct Suite {
    env: Env,
    victims: Victims,
    cases: Vec<Case>,
}

impl Suite {
    fn new() -> Suite {
        let env = Env::new();
        // The store made before the cases run, so that a refusal can be
        // seen to leave it as it was.
        env.sh("img-ls -q").ok();
        let victims = Victims::new(env.dir.path());
        let cases = cases(&victims);
        assert!(cases.len() >= 35, "the suite has {} cases", cases.len());
        Suite {
            env,
            victims,
            cases,
        }
    }

    /// Write each case's layer to `NAME.tar` in the scratch directory.
    fn write_layers(&self) {
        for case in &self.cases {
            std::fs::write(self.layer_file(case), case.layer()).unwrap();
        }
    }

    fn layer_file(&self, case: &Case) -> PathBuf {
        self.env.path(&format!("{}.tar", case.name))
    }

    /// What must hold after every run of every case.
    #[track_caller]
    fn after(&self, case: &Case, entry: &str, run: &Run) {
        let what = format!("{} through {entry}", case.name);
        self.victims.assert_intact(&what);
        self.victims.assert_unseen(&run.stdout, &what);
        self.victims.assert_unseen(&run.stderr, &what);
        if run.code == 2 {
            // One line of error (progress lines may come before it).
            let errors = run
                .stderr
                .lines()
                .filter(|l| l.contains(": error: "))
                .count();
            assert_eq!(errors, 1, "{what}: {}", run.stderr);
            assert!(run
                .stderr
                .trim_end()
                .lines()
                .last()
                .unwrap_or("")
                .contains(": error: "));
        }
    }

    /// Run `script` for `case`, expecting success when `accepted`, else a
    /// refusal that changed nothing in the store.
    #[track_caller]
    fn expect(&self, case: &Case, entry: &str, accepted: bool, script: &str) -> Run {
        let before = snapshot(&self.env.store());
        let run = self.env.sh(script);
        let what = format!("{} through {entry}", case.name);
        assert_eq!(
            run.code,
            if accepted { 0 } else { 2 },
            "{what}: {script}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        if !accepted {
            assert_eq!(
                snapshot(&self.env.store()),
                before,
                "{what}: the store changed"
            );
        }
        self.after(case, entry, &run);
        run
    }

    /// The end of a runner: the store is consistent and holds nothing of
    /// the victims'.
    fn finish(&self, entry: &str) {
        self.env.check_store();
        self.victims.assert_not_in(&self.env.store(), entry);
    }

    /// Put every case into the store as an image of the busybox layer and
    /// the case's layer, named `from-CASE`, as another OCI tool would:
    /// nothing of img checked it.
    fn store_images(&self) {
        let busybox = Layer::busybox();
        let images: Vec<(String, Image)> = self
            .cases
            .iter()
            .map(|c| {
                let layers = vec![busybox.clone(), Layer::plain(c.layer())];
                (format!("from-{}", c.name), Image::new(layers))
            })
            .collect();
        let named: Vec<(String, &Image)> = images.iter().map(|(n, i)| (n.clone(), i)).collect();
        image::add_to_layout(&self.env.store(), &named);
    }
}

#[test]
fn img_layer_apply() {
    let suite = Suite::new();
    suite.write_layers();
    for case in &suite.cases {
        // The destination sits beside the victims: a whiteout of its
        // parent would delete them.
        for how in ["file", "pipe"] {
            let dest = suite.env.path(&format!("{how}-{}", case.name));
            std::fs::create_dir(&dest).unwrap();
            let layer = suite.layer_file(case).display().to_string();
            let script = match how {
                "file" => format!("img-layer apply {layer} {}", dest.display()),
                _ => format!("cat {layer} | img-layer apply - {}", dest.display()),
            };
            let run = suite.env.sh(&script);
            let what = format!("{} through img-layer apply ({how})", case.name);
            assert_eq!(
                run.code,
                if case.applied { 0 } else { 2 },
                "{what}\nstderr:\n{}",
                run.stderr
            );
            suite.after(case, &format!("img-layer apply ({how})"), &run);
            assert!(dest.is_dir(), "{what}: the destination is gone");
            if how == "file" && !case.stored {
                // Checked whole before anything was written.
                let left = std::fs::read_dir(&dest).unwrap().count();
                assert_eq!(
                    left, 0,
                    "{what}: a refused layer wrote into the destination"
                );
            }
            if let Some(lands) = case.lands.as_ref().filter(|_| case.applied) {
                assert!(
                    std::fs::symlink_metadata(dest.join(lands)).is_ok(),
                    "{what}: nothing at {lands} inside the destination"
                );
            }
            suite.victims.assert_not_in(&dest, &what);
        }
    }
}

#[test]
fn img_import() {
    let suite = Suite::new();
    suite.write_layers();
    for case in &suite.cases {
        let layer = suite.layer_file(case).display().to_string();
        suite.expect(
            case,
            "img-import",
            case.stored,
            &format!("img-import {layer} imported:{}", case.name),
        );
    }
    suite.finish("img-import");
}

#[test]
fn img_commit() {
    if !need(&["skopeo"]) {
        return;
    }
    let suite = Suite::new();
    suite.env.seed("base", "base");
    suite.write_layers();
    for case in &suite.cases {
        let layer = suite.layer_file(case).display().to_string();
        let name = case.name;
        suite.expect(
            case,
            "img-commit (stdin)",
            case.stored,
            &format!("img-commit base stdin:{name} < {layer}"),
        );
        suite.expect(
            case,
            "img-commit --layer",
            case.stored,
            &format!("img-commit --layer {layer} base file:{name}"),
        );
    }
    suite.finish("img-commit");
}

#[test]
fn img_load() {
    let suite = Suite::new();
    for case in &suite.cases {
        let tar = case.layer();
        let formats = [
            (
                "OCI",
                image::oci_archive(
                    &format!("oci:{}", case.name),
                    &Image::new(vec![Layer::gzip(&tar)]),
                ),
            ),
            (
                "Docker",
                image::docker_archive(
                    &format!("docker:{}", case.name),
                    &Image::new(vec![Layer::plain(tar.clone())]),
                ),
            ),
            (
                "legacy",
                image::legacy_archive(
                    &format!("legacy:{}", case.name),
                    &Image::new(vec![Layer::plain(tar.clone())]),
                ),
            ),
        ];
        for (format, archive) in formats {
            let file = suite.env.path(&format!("{}-{format}.tar", case.name));
            std::fs::write(&file, archive).unwrap();
            suite.expect(
                case,
                &format!("img-load ({format} archive)"),
                case.stored,
                &format!("img-load -i {}", file.display()),
            );
            // A pipe is staged as a stream, its layers checked as they
            // stream in: the other way in.
            suite.expect(
                case,
                &format!("img-load (piped {format} archive)"),
                case.stored,
                &format!("cat {} | img-load", file.display()),
            );
        }
    }
    suite.finish("img-load");
}

#[test]
fn img_pull() {
    if !need(&["docker-registry", "skopeo"]) {
        return;
    }
    let suite = Suite::new();
    let cases: Vec<&Case> = suite.cases.iter().collect();
    pull_each(&suite, &cases, |c| c.layer());
    suite.finish("img-pull");
}

/// The refused cases again, each behind a file of incompressible bytes that
/// makes its gzip blob larger than a MiB: img-pull fetches such a layer as
/// one stream and checks it in the buffers it arrived in (`stream.rs`),
/// where the small layers above are read back from the disk.
#[test]
fn img_pull_refuses_hostile_layers_that_stream() {
    if !need(&["docker-registry", "skopeo"]) {
        return;
    }
    let suite = Suite::new();
    let cases: Vec<&Case> = suite.cases.iter().filter(|c| !c.stored).collect();
    let padding = noise(3 << 19);
    pull_each(&suite, &cases, |c| {
        let mut entries = vec![Entry::file("padding", &padding)];
        entries.extend(c.entries.iter().cloned());
        tar::build(&entries)
    });
    suite.finish("img-pull");
}

/// `len` deterministic bytes that gzip cannot shrink (xorshift64).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Push each case as a one-layer image (its gzipped `layer`) to a fresh
/// registry and pull it: a refused one exits 2 and leaves no blob, no
/// partial download and the index as it was.
fn pull_each(suite: &Suite, cases: &[&Case], layer: impl Fn(&Case) -> Vec<u8>) {
    let registry = Registry::open();
    let images: Vec<(String, Image)> = cases
        .iter()
        .map(|c| (c.name.to_string(), Image::new(vec![Layer::gzip(&layer(c))])))
        .collect();
    let layout = suite.env.path("layout");
    let named: Vec<(String, &Image)> = images.iter().map(|(n, i)| (n.clone(), i)).collect();
    image::write_layout(&layout, &named);
    for (case, (name, image)) in cases.iter().zip(&images) {
        registry.skopeo_push(&layout, name, &format!("hostile/{name}:1"));
        let script = format!("img-pull {}/hostile/{name}:1", registry.host);
        let index = suite.env.index_bytes();
        let run = suite.env.sh(&script);
        let what = format!("{name} through img-pull");
        assert_eq!(
            run.code,
            if case.stored { 0 } else { 2 },
            "{what}: {}",
            run.stderr
        );
        suite.after(case, "img-pull", &run);
        let layer = image::digest(&image.layers[0].blob);
        let blob = suite
            .env
            .store()
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:"));
        assert_eq!(blob.exists(), case.stored, "{what}: the layer blob");
        if !case.stored {
            // The config may have come first; nothing names it, and no
            // partial download is left.
            assert_eq!(suite.env.index_bytes(), index, "{what}: the index changed");
            let ingest = std::fs::read_dir(suite.env.store().join(".img/ingest"))
                .map(|d| d.count())
                .unwrap_or(0);
            assert_eq!(ingest, 0, "{what}: a partial download was left");
        }
    }
}

/// A build context holding `files` and a Dockerfile.
fn context(dir: &Path, dockerfile: &str, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn img_build_add() {
    if !need(&["runc"]) {
        return;
    }
    let suite = Suite::new();
    for case in &suite.cases {
        let ctx = suite.env.path(&format!("ctx-{}", case.name));
        context(
            &ctx,
            "FROM scratch\nADD layer.tar /\n",
            &[("layer.tar", &case.layer())],
        );
        let script = format!("img-build -q -t add:{} {}", case.name, ctx.display());
        suite.expect(case, "img-build ADD", case.applied, &script);
    }
    suite.finish("img-build ADD");
}

#[test]
fn img_build_from() {
    if !need(&["runc"]) {
        return;
    }
    let suite = Suite::new();
    suite.store_images();
    for case in &suite.cases {
        let ctx = suite.env.path(&format!("ctx-{}", case.name));
        context(
            &ctx,
            &format!("FROM from-{}\nRUN echo built > /built\n", case.name),
            &[],
        );
        let script = format!("img-build -q -t built:{} {}", case.name, ctx.display());
        // The image came in past img's checks: unpacking it is the guard.
        let run = suite.env.sh(&script);
        let what = format!("{} through img-build FROM", case.name);
        assert_eq!(
            run.code,
            if case.applied { 0 } else { 2 },
            "{what}: {}",
            run.stderr
        );
        suite.after(case, "img-build FROM", &run);
        assert_busybox_snapshot(&suite.env, &what);
    }
    suite.finish("img-build FROM");
}

#[test]
fn img_export_output_dir() {
    let suite = Suite::new();
    suite.store_images();
    for case in &suite.cases {
        // Beside the victims, as img-layer apply's destinations are.
        let dest = suite.env.path(&format!("rootfs-{}", case.name));
        let script = format!(
            "img-export --output-dir {} from-{}",
            dest.display(),
            case.name
        );
        // The image came in past img's checks: unpacking it is the guard.
        let run = suite.expect(case, "img-export --output-dir", case.applied, &script);
        let what = format!("{} through img-export --output-dir", case.name);
        if case.applied {
            assert!(dest.join("bin/busybox").is_file(), "{what}: no busybox");
            if let Some(lands) = &case.lands {
                assert!(
                    std::fs::symlink_metadata(dest.join(lands)).is_ok(),
                    "{what}: nothing at {lands} inside the destination"
                );
            }
            suite.victims.assert_not_in(&dest, &what);
        } else {
            // A refusal leaves no directory behind.
            assert!(!dest.exists(), "{what}: {}", run.stderr);
        }
    }
    suite.finish("img-export --output-dir");
}

/// Everything a container can read of its root filesystem, printed: the
/// victims' content must not be among it.
const READ_ALL: &str = "for f in $(find / -xdev ! -type d ! -path '/proc/*' ! -path '/sys/*' \
    ! -path '/dev/*' ! -path '/bin/*'); do cat \"$f\"; done 2>&1; echo done";

#[test]
fn img_run() {
    if !need(&["runc"]) {
        return;
    }
    let suite = Suite::new();
    suite.store_images();
    for case in &suite.cases {
        let script = format!(
            "img-run --rm from-{} sh -c '{}'",
            case.name,
            READ_ALL.replace('\'', "'\\''")
        );
        let run = suite.env.sh(&script);
        let what = format!("{} through img-run", case.name);
        assert_eq!(
            run.code,
            if case.applied { 0 } else { 125 },
            "{what}: {}",
            run.stderr
        );
        if case.applied {
            assert!(run.stdout.ends_with("done\n"), "{what}: {}", run.stdout);
        }
        suite.after(case, "img-run", &run);
        assert_busybox_snapshot(&suite.env, &what);
    }
    suite.finish("img-run");
}

/// The busybox layer's snapshot, which every image of the suite shares,
/// is still whole: a whiteout of a snapshot's parent would have emptied
/// the snapshot directory.
#[track_caller]
fn assert_busybox_snapshot(env: &Env, what: &str) {
    let diff_id = Layer::busybox().diff_id;
    let snapshot = env
        .store()
        .join(".img/snapshots")
        .join(diff_id.trim_start_matches("sha256:"));
    assert!(
        snapshot.join("bin/busybox").is_file(),
        "{what}: the busybox snapshot is gone"
    );
}

/// Files whose names make whiteouts of `.`, `..` or nothing once they are
/// in a layer: every program that writes a layer from a tree refuses them
/// (exit 2) and names nothing.
const WHITEOUT_NAMES: &[&str] = &[".wh..", ".wh...", ".wh."];

#[test]
fn trees_holding_whiteout_names_make_no_layer() {
    if !need(&["runc", "skopeo"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "base");
    for name in WHITEOUT_NAMES {
        let tree = env.path("tree");
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub").join(name), b"").unwrap();
        let run = env.sh("img-layer create tree > layer.tar").code(2);
        assert!(run.stderr.contains("whiteout"), "{name}: {}", run.stderr);
        std::fs::create_dir_all(env.path("empty")).unwrap();
        env.sh("img-layer diff empty tree > layer.tar").code(2);
        // COPY of such a file: the step's layer is refused.
        let named = names(&env);
        context(&env.path("ctx"), "FROM base\nCOPY tree /tree\n", &[]);
        env.sh("rm -rf ctx/tree && cp -a tree ctx/tree && img-build -q -t copied ctx")
            .code(2);
        // A container that made one: its commit is refused.
        let script =
            format!("img-run --name maker base sh -c ': > /{name}' && img-commit maker made");
        env.sh(&script).code(2);
        env.sh("img-prune -f --containers").ok();
        assert_eq!(names(&env), named, "{name}: something was named");
    }
    env.check_store();
}

/// The names in the store's index.
fn names(env: &Env) -> Vec<String> {
    let index = env.index();
    let mut names: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(String::from)
        .collect();
    names.sort();
    names
}

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;
use img_core::error::Kind;

/// A build context and a root filesystem, both temporary.
pub struct Env {
    pub ctx: TempDir,
    pub rootfs: TempDir,
}

/// One COPY or ADD, with the `.dockerignore` it sees.
pub struct Case {
    pub sources: Vec<String>,
    pub dest: String,
    pub workdir: String,
    pub owner: Option<(u32, u32)>,
    pub preserve_owners: bool,
    pub chmod: Option<Chmod>,
    pub add: bool,
    pub checksum: Option<Digest>,
    pub inline: Vec<(String, Vec<u8>)>,
    pub exclude: Vec<String>,
    /// `.dockerignore` stand-in: these paths and everything below them…
    pub ignore: Vec<String>,
    /// …except these and everything below them.
    pub keep: Vec<String>,
}

pub fn case(sources: &[&str], dest: &str) -> Case {
    Case {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.into(),
        workdir: "/".into(),
        owner: None,
        preserve_owners: false,
        chmod: None,
        add: false,
        checksum: None,
        inline: Vec::new(),
        exclude: Vec::new(),
        ignore: Vec::new(),
        keep: Vec::new(),
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

impl Env {
    pub fn new() -> Env {
        Env {
            ctx: tempfile::tempdir().unwrap(),
            rootfs: tempfile::tempdir().unwrap(),
        }
    }

    /// Write a context file (parents made).
    pub fn file(&self, rel: &str, content: &[u8]) -> PathBuf {
        let path = self.ctx.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    pub fn out(&self, rel: &str) -> PathBuf {
        self.rootfs.path().join(rel)
    }

    fn with<T>(&self, c: &Case, f: impl FnOnce(&Request) -> T) -> T {
        let excluded =
            |p: &str| c.ignore.iter().any(|i| under(p, i)) && !c.keep.iter().any(|k| under(p, k));
        let may = |p: &str| c.keep.iter().any(|k| k.starts_with(&format!("{p}/")));
        let req = Request {
            sources: &c.sources,
            source_root: self.ctx.path(),
            excluded: &excluded,
            may_include_below: &may,
            dest: &c.dest,
            workdir: &c.workdir,
            rootfs: self.rootfs.path(),
            owner: c.owner,
            preserve_owners: c.preserve_owners,
            chmod: c.chmod.clone(),
            add: c.add,
            checksum: c.checksum.clone(),
            inline: &c.inline,
            exclude: &c.exclude,
        };
        f(&req)
    }

    pub fn run(&self, c: &Case) -> Result<Report> {
        self.with(c, copy)
    }

    pub fn sum(&self, c: &Case) -> Digest {
        self.with(c, checksum).unwrap()
    }

    /// Every path in the root filesystem, sorted.
    pub fn listing(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let mut names: Vec<_> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            for name in names {
                let rel = format!("{prefix}{}", name.to_string_lossy());
                let path = dir.join(&name);
                out.push(rel.clone());
                if path.is_dir() && !path.is_symlink() {
                    walk(&path, &format!("{rel}/"), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.rootfs.path(), "", &mut out);
        out
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn owner(path: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

fn set_mtime(path: &Path, secs: i64) {
    let time = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = super::write::timestamps((time, time));
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

#[test]
fn a_file_to_a_file_keeps_its_mode_but_not_its_owner() {
    let env = Env::new();
    let src = env.file("a.txt", b"alpha");
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&src, Some(1000), Some(1000)).unwrap();
    let report = env.run(&case(&["a.txt"], "/etc/b.conf")).unwrap();
    let out = env.out("etc/b.conf");
    assert_eq!(fs::read(&out).unwrap(), b"alpha");
    assert_eq!(mode(&out), 0o640);
    assert_eq!(owner(&out), (0, 0));
    assert_eq!(
        mode(&env.out("etc")),
        0o755,
        "a missing parent is made 0755"
    );
    assert_eq!((report.files, report.bytes), (1, 5));
}

#[test]
fn a_file_goes_into_a_directory_by_slash_or_by_being_one() {
    let env = Env::new();
    env.file("a.txt", b"alpha");
    env.run(&case(&["a.txt"], "/d/")).unwrap();
    assert_eq!(fs::read(env.out("d/a.txt")).unwrap(), b"alpha");
    fs::create_dir(env.out("existing")).unwrap();
    env.run(&case(&["./a.txt"], "/existing")).unwrap();
    assert_eq!(fs::read(env.out("existing/a.txt")).unwrap(), b"alpha");
}

#[test]
fn a_relative_destination_is_under_the_working_directory() {
    let env = Env::new();
    env.file("a.txt", b"alpha");
    let mut c = case(&["a.txt"], "sub/");
    c.workdir = "/work".into();
    env.run(&c).unwrap();
    c.dest = ".".into();
    env.run(&c).unwrap();
    c.dest = "../../../../up.txt".into();
    env.run(&c).unwrap();
    assert_eq!(
        env.listing(),
        ["up.txt", "work", "work/a.txt", "work/sub", "work/sub/a.txt"]
    );
}

#[test]
fn a_directory_copies_its_contents() {
    let env = Env::new();
    env.file("src/x", b"x");
    env.file("src/sub/y", b"y");
    let report = env.run(&case(&["src"], "/app")).unwrap();
    assert_eq!(env.listing(), ["app", "app/sub", "app/sub/y", "app/x"]);
    assert_eq!((report.files, report.directories), (2, 1));
    // The whole context, into an existing directory.
    env.run(&case(&["."], "/app/")).unwrap();
    assert!(env.out("app/src/sub/y").is_file());
}

#[test]
fn wildcards_match_one_element_each() {
    let env = Env::new();
    for name in ["a.txt", "b.txt", "c.md", "sub/d.txt", "sub/deep/e.txt"] {
        env.file(name, name.as_bytes());
    }
    env.run(&case(&["*.txt"], "/w/")).unwrap();
    env.run(&case(&["*/d.txt", "[c].md"], "/x/")).unwrap();
    env.run(&case(&["s?b/*"], "/y/")).unwrap();
    assert_eq!(
        env.listing(),
        ["w", "w/a.txt", "w/b.txt", "x", "x/c.md", "x/d.txt", "y", "y/d.txt", "y/e.txt"]
    );
    // Matching nothing copies nothing (BuildKit); a missing directory
    // before the wildcard is an error.
    env.run(&case(&["*.none"], "/z/")).unwrap();
    assert!(!env.out("z").exists());
    let err = env.run(&case(&["nodir/*.txt"], "/z/")).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound);
    let err = env.run(&case(&["[a.txt"], "/z/")).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidInput);
}

#[test]
fn several_sources_into_a_file_leave_the_last_as_buildkit_does() {
    let env = Env::new();
    env.file("a.txt", b"a");
    env.file("b.txt", b"b");
    env.run(&case(&["a.txt", "b.txt"], "/d")).unwrap();
    assert_eq!(std::fs::read(env.out("d")).unwrap(), b"b");
    env.run(&case(&["*.txt"], "/e")).unwrap();
    assert_eq!(std::fs::read(env.out("e")).unwrap(), b"b");
}

#[test]
fn a_missing_source_is_named_in_dockers_words() {
    let env = Env::new();
    let err = env.run(&case(&["nope.txt"], "/")).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound);
    assert!(err.to_string().contains(
        "\"/nope.txt\": not found (not in the build context, or excluded by .dockerignore"
    ));
}

#[test]
fn sources_never_leave_the_context() {
    let env = Env::new();
    env.file("a.txt", b"a");
    for bad in ["../x", "a/../../x", "/../etc/passwd"] {
        let err = env.run(&case(&[bad], "/")).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("forbidden path outside the build context: {bad}")),
            "{err}"
        );
    }
    env.run(&case(&["sub/../a.txt"], "/ok")).unwrap();
    assert_eq!(env.listing(), ["ok"]);
}

#[test]
fn links_in_the_context_resolve_inside_it() {
    let env = Env::new();
    env.file("etc/passwd", b"the context's passwd");
    symlink("/etc/passwd", env.ctx.path().join("abs")).unwrap();
    symlink(
        "../../../../../../etc/hostname",
        env.ctx.path().join("climb"),
    )
    .unwrap();
    env.run(&case(&["abs"], "/out/")).unwrap();
    assert_eq!(
        fs::read(env.out("out/abs")).unwrap(),
        b"the context's passwd"
    );
    assert!(!fs::symlink_metadata(env.out("out/abs"))
        .unwrap()
        .is_symlink());
    // /etc/hostname of the host is not the context's: not found.
    let err = env.run(&case(&["climb"], "/out/")).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound);
}

#[test]
fn links_inside_a_directory_are_copied_as_links() {
    let env = Env::new();
    env.file("dir/target", b"t");
    symlink("target", env.ctx.path().join("dir/rel")).unwrap();
    symlink("/nowhere/at/all", env.ctx.path().join("dir/dangling")).unwrap();
    let report = env.run(&case(&["dir"], "/app")).unwrap();
    assert_eq!(
        fs::read_link(env.out("app/rel")).unwrap(),
        Path::new("target")
    );
    assert_eq!(
        fs::read_link(env.out("app/dangling")).unwrap(),
        Path::new("/nowhere/at/all")
    );
    assert_eq!(report.symlinks, 2);
}

#[test]
fn the_destination_resolves_inside_the_root_filesystem() {
    let env = Env::new();
    env.file("a.txt", b"a");
    fs::create_dir(env.out("target")).unwrap();
    symlink("/target", env.out("abs")).unwrap();
    symlink("../../../../../../tmp/img-copy-escape", env.out("climb")).unwrap();
    env.run(&case(&["a.txt"], "/abs/")).unwrap();
    assert!(env.out("target/a.txt").is_file());
    env.run(&case(&["a.txt"], "/climb/x/")).unwrap();
    assert!(env.out("tmp/img-copy-escape/x/a.txt").is_file());
    assert!(!Path::new("/tmp/img-copy-escape").exists());
    // A file through a final link replaces the link's target inside.
    fs::write(env.out("target/old"), b"old").unwrap();
    symlink("/target/old", env.out("file-link")).unwrap();
    env.run(&case(&["a.txt"], "/file-link")).unwrap();
    assert_eq!(fs::read(env.out("target/old")).unwrap(), b"a");
}

#[test]
fn existing_files_are_replaced_and_directories_are_not() {
    let env = Env::new();
    env.file("a.txt", b"new");
    env.file("dir/sub", b"file where a directory is");
    fs::write(env.out("f"), b"old").unwrap();
    env.run(&case(&["a.txt"], "/f")).unwrap();
    assert_eq!(fs::read(env.out("f")).unwrap(), b"new");
    fs::create_dir_all(env.out("app/sub")).unwrap();
    let err = env.run(&case(&["dir"], "/app")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot replace the directory /app/sub with a file"),
        "{err}"
    );
    let err = env.run(&case(&["a.txt"], "/f/inside")).unwrap_err();
    assert!(err.to_string().contains("/f is not a directory"), "{err}");
}

#[test]
fn chown_and_chmod_apply_to_what_is_copied() {
    let env = Env::new();
    env.file("dir/x", b"x");
    env.file("dir/sub/y", b"y");
    let mut c = case(&["dir"], "/made/app");
    c.owner = Some((1234, 5678));
    c.chmod = Some(Chmod::parse("0700").unwrap());
    env.run(&c).unwrap();
    for p in [
        "made",
        "made/app",
        "made/app/x",
        "made/app/sub",
        "made/app/sub/y",
    ] {
        assert_eq!(owner(&env.out(p)), (1234, 5678), "{p}");
    }
    assert_eq!(mode(&env.out("made/app/x")), 0o700);
    assert_eq!(mode(&env.out("made/app/sub")), 0o700);
    assert_eq!(mode(&env.out("made")), 0o755, "made on the way: 0755");
    let src = env.file("run.sh", b"#!/bin/sh");
    fs::set_permissions(&src, fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = case(&["run.sh"], "/bin/");
    c.chmod = Some(Chmod::parse("u+x").unwrap());
    env.run(&c).unwrap();
    assert_eq!(mode(&env.out("bin/run.sh")), 0o744);
}

#[test]
fn owners_are_kept_from_another_stage_only() {
    let env = Env::new();
    let src = env.file("f", b"f");
    std::os::unix::fs::chown(&src, Some(1000), Some(1001)).unwrap();
    let mut c = case(&["f"], "/kept");
    c.preserve_owners = true;
    env.run(&c).unwrap();
    assert_eq!(owner(&env.out("kept")), (1000, 1001));
    env.run(&case(&["f"], "/reset")).unwrap();
    assert_eq!(owner(&env.out("reset")), (0, 0));
}

#[test]
fn modification_times_are_kept() {
    let env = Env::new();
    let file = env.file("dir/sub/f", b"f");
    set_mtime(&file, 1_000_000_000);
    set_mtime(&env.ctx.path().join("dir/sub"), 1_100_000_000);
    set_mtime(&env.ctx.path().join("dir"), 1_200_000_000);
    env.run(&case(&["dir"], "/app")).unwrap();
    let mtime = |p: &str| fs::symlink_metadata(env.out(p)).unwrap().mtime();
    assert_eq!(mtime("app/sub/f"), 1_000_000_000);
    assert_eq!(mtime("app/sub"), 1_100_000_000);
    assert_eq!(mtime("app"), 1_200_000_000);
}

#[test]
fn dockerignored_paths_are_neither_copied_nor_matched() {
    let env = Env::new();
    env.file("app.py", b"code");
    env.file("secret.txt", b"secret");
    env.file("logs/keep.log", b"keep");
    env.file("logs/other.log", b"other");
    env.file("cache/big", b"big");
    let mut c = case(&["."], "/app/");
    c.ignore = vec!["secret.txt".into(), "logs".into(), "cache".into()];
    c.keep = vec!["logs/keep.log".into()];
    env.run(&c).unwrap();
    assert_eq!(
        env.listing(),
        ["app", "app/app.py", "app/logs", "app/logs/keep.log"]
    );
    c.sources = vec!["*.txt".into()];
    c.dest = "/txt/".into();
    env.run(&c).unwrap();
    assert!(!env.out("txt").exists(), "an ignored file does not match");
    c.sources = vec!["secret.txt".into()];
    assert_eq!(env.run(&c).unwrap_err().kind(), Kind::NotFound);
}

#[test]
fn exclude_flags_leave_out_matches_and_subtrees() {
    let env = Env::new();
    for name in [
        "src/a.rs",
        "src/README.md",
        "src/target/x.rs",
        "top.md",
        "top.rs",
    ] {
        env.file(name, b"x");
    }
    let mut c = case(&["src"], "/s");
    c.exclude = vec!["*.md".into(), "target".into()];
    env.run(&c).unwrap();
    c.sources = vec!["top*".into()];
    c.dest = "/t/".into();
    env.run(&c).unwrap();
    assert_eq!(env.listing(), ["s", "s/a.rs", "t", "t/top.rs"]);
}

#[test]
fn hard_links_stay_hard_links() {
    let env = Env::new();
    let a = env.file("dir/a", b"shared");
    fs::hard_link(&a, env.ctx.path().join("dir/b")).unwrap();
    let report = env.run(&case(&["dir"], "/app")).unwrap();
    let ino = |p: &str| fs::metadata(env.out(p)).unwrap().ino();
    assert_eq!(ino("app/a"), ino("app/b"));
    assert_eq!((report.files, report.hard_links, report.bytes), (1, 1, 6));
}

#[test]
fn sockets_are_skipped_and_devices_refused() {
    let env = Env::new();
    env.file("dir/f", b"f");
    let _socket = std::os::unix::net::UnixListener::bind(env.ctx.path().join("dir/sock")).unwrap();
    let report = env.run(&case(&["dir"], "/app")).unwrap();
    assert_eq!(report.skipped, 1);
    assert_eq!(env.listing(), ["app", "app/f"]);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        env.ctx.path().join("dir/null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    let err = env.run(&case(&["dir"], "/other")).unwrap_err();
    assert!(
        err.to_string().contains("dir/null is a device node"),
        "{err}"
    );
}

#[test]
fn heredocs_are_files_in_the_destination() {
    let env = Env::new();
    let mut c = case(&[], "/scripts/");
    c.inline = vec![
        ("hello.sh".into(), b"echo hi\n".to_vec()),
        ("b".into(), b"b".to_vec()),
    ];
    env.run(&c).unwrap();
    assert_eq!(fs::read(env.out("scripts/hello.sh")).unwrap(), b"echo hi\n");
    assert_eq!(mode(&env.out("scripts/hello.sh")), 0o644);
    c.chmod = Some(Chmod::parse("755").unwrap());
    c.inline.truncate(1);
    c.dest = "/bin/hello".into();
    env.run(&c).unwrap();
    assert_eq!(mode(&env.out("bin/hello")), 0o755);
}

#[test]
fn the_checksum_follows_content_not_times() {
    let env = Env::new();
    let f = env.file("dir/f", b"one");
    env.file("dir/sub/g", b"two");
    symlink("f", env.ctx.path().join("dir/link")).unwrap();
    let c = case(&["dir"], "/app/");
    let first = env.sum(&c);
    assert_eq!(env.sum(&c), first, "the same sources give the same digest");
    set_mtime(&f, 12345);
    set_mtime(&env.ctx.path().join("dir/sub"), 54321);
    assert_eq!(env.sum(&c), first, "times do not count");
    fs::write(&f, b"ONE").unwrap();
    let edited = env.sum(&c);
    assert_ne!(edited, first, "content counts");
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    let chmodded = env.sum(&c);
    assert_ne!(chmodded, edited, "modes count");
    fs::rename(
        env.ctx.path().join("dir/sub/g"),
        env.ctx.path().join("dir/sub/h"),
    )
    .unwrap();
    let renamed = env.sum(&c);
    assert_ne!(renamed, chmodded, "names count");
    fs::remove_file(env.ctx.path().join("dir/link")).unwrap();
    symlink("sub", env.ctx.path().join("dir/link")).unwrap();
    assert_ne!(env.sum(&c), renamed, "link targets count");
    assert_ne!(
        env.sum(&case(&["dir"], "/elsewhere/")),
        env.sum(&c),
        "the destination counts"
    );
    let mut chowned = case(&["dir"], "/app/");
    chowned.owner = Some((1, 1));
    assert_ne!(env.sum(&chowned), env.sum(&c), "--chown counts");
}

#[test]
fn directories_merge_through_links_inside_the_root_filesystem() {
    let env = Env::new();
    env.file("tree/lib/x.so", b"x");
    env.file("tree/etc/conf", b"c");
    fs::create_dir_all(env.out("usr/lib")).unwrap();
    fs::create_dir(env.out("real-etc")).unwrap();
    symlink("usr/lib", env.out("lib")).unwrap();
    symlink("../../../../../../real-etc", env.out("etc")).unwrap();
    env.run(&case(&["tree"], "/")).unwrap();
    assert!(
        env.out("usr/lib/x.so").is_file(),
        "lib/ merged into usr/lib"
    );
    assert!(
        env.out("real-etc/conf").is_file(),
        "a climbing link stays inside"
    );
    assert!(fs::symlink_metadata(env.out("lib")).unwrap().is_symlink());
    // A link to what is missing (inside the root filesystem) is in the way.
    fs::remove_file(env.out("etc")).unwrap();
    symlink("/missing-etc", env.out("etc")).unwrap();
    let err = env.run(&case(&["tree"], "/")).unwrap_err();
    assert!(
        err.to_string()
            .contains("/etc: it exists and is not a directory"),
        "{err}"
    );
}

use std::path::Path;

use super::*;
use img_core::error::Kind;

fn parse_ok(text: &str) -> RegistriesConf {
    RegistriesConf::parse(text, Path::new("/etc/r.conf")).unwrap()
}

fn parse_err(text: &str) -> String {
    let e = RegistriesConf::parse(text, Path::new("/etc/r.conf")).unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidInput, "{e}");
    e.to_string()
}

#[test]
fn reads_tables_mirrors_and_the_search_list() {
    let c = parse_ok(
        r#"
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar/"
insecure = true

[[registry.mirror]]
location = "mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "mirror-1.local:5000"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
location = "registry.com"
blocked = true

[aliases]
"busybox" = "docker.io/library/busybox"
"#,
    );
    assert_eq!(
        c.unqualified_search_registries(),
        ["registry.fedoraproject.org", "docker.io"]
    );
    let tables = c.tables();
    assert_eq!(tables.len(), 2);
    let foo = &tables[0];
    assert_eq!(foo.prefix, "example.com/foo");
    assert_eq!(foo.location, "internal.example.net/bar");
    assert!(foo.insecure && !foo.blocked);
    assert_eq!(
        foo.mirrors,
        [
            Mirror {
                location: "mirror-0.local/mirror-for-foo".into(),
                insecure: false,
                pull_from: PullFrom::All
            },
            Mirror {
                location: "mirror-1.local:5000".into(),
                insecure: true,
                pull_from: PullFrom::DigestOnly
            }
        ]
    );
    assert_eq!(tables[1].prefix, "registry.com");
    assert!(tables[1].blocked);
    assert_eq!(tables[1].file, Path::new("/etc/r.conf"));
}

#[test]
fn malformed_files_name_the_file_and_line() {
    let cases: &[(&str, &str)] = &[
        ("[[registry]\nlocation = \"a.com\"\n", "/etc/r.conf:1: "),
        (
            "\n[[registry]]\nlocation = \"a.com\"\ninsecure = \"yes\"\n",
            "/etc/r.conf:4: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "[[registry]]\nlocation = \"a.com\"\n[[registry.mirror]]\nlocation = \"m.com\"\npull-from-mirror = \"sometimes\"\n",
            "/etc/r.conf:5: pull-from-mirror \"sometimes\" is not one of all, digest-only, tag-only",
        ),
        (
            "[[registry]]\nlocation = \"https://a.com\"\n",
            "/etc/r.conf:2: location \"https://a.com\": URI schemes are not supported",
        ),
        (
            "[[registry]]\nlocation = \"a.com\"\n\n[[registry.mirror]]\ninsecure = true\n",
            "/etc/r.conf:4: [[registry.mirror]] has no location",
        ),
        (
            "x = 1\n[[registry]]\ninsecure = true\n",
            "/etc/r.conf:2: [[registry]] has neither prefix nor location",
        ),
        (
            "[[registry]]\nprefix = \"a.com\"\n",
            "/etc/r.conf:1: [[registry]] prefix \"a.com\" has no location",
        ),
        (
            "[[registry]]\nprefix = \"*.a.com/x\"\n",
            "/etc/r.conf:2: wildcard prefix \"*.a.com/x\" must be *.domain",
        ),
        (
            "[[registry]]\nlocation = \"a.com\"\npull-from-mirror = \"all\"\n",
            "/etc/r.conf:3: pull-from-mirror belongs in a [[registry.mirror]] table",
        ),
        (
            "[[registry]]\nlocation = \"a.com\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.com\"\npull-from-mirror = \"tag-only\"\n",
            "/etc/r.conf:6: pull-from-mirror cannot be set when",
        ),
        (
            "[[registry]]\nprefix = \"a.com/x\"\nlocation = \"a.com\"\n[[registry]]\nprefix = \"a.com/y\"\nlocation = \"a.com\"\ninsecure = true\n",
            "/etc/r.conf:4: registry \"a.com\" is given twice with different insecure settings",
        ),
        (
            "[[registry]]\nlocation = \"mirror\"\n",
            "/etc/r.conf:2: location \"mirror\": \"mirror\" is not a registry host",
        ),
        (
            "unqualified-search-registries = [\"ok.com\", \"not a host\"]\n",
            "/etc/r.conf:1: unqualified-search-registries entry \"not a host\"",
        ),
        (
            "[registries.search]\nregistries = [\"a.com\"]\n[[registry]]\nlocation = \"b.com\"\n",
            "mixing the version 1 lists",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        assert!(got.contains(want), "for {text:?}:\n got {got}\nwant {want}");
        assert!(!got.contains('\n'), "one line: {got}");
    }
}

#[test]
fn version_1_lists_become_tables() {
    let c = parse_ok(
        "[registries.search]\nregistries = ['registry1.com', 'registry2.com']\n[registries.insecure]\nregistries = ['registry3.com:5000']\n[registries.block]\nregistries = ['registry.untrusted.com']\n",
    );
    assert_eq!(
        c.unqualified_search_registries(),
        ["registry1.com", "registry2.com"]
    );
    let t: Vec<(&str, bool, bool)> = c
        .tables()
        .iter()
        .map(|t| (t.prefix.as_str(), t.insecure, t.blocked))
        .collect();
    assert_eq!(
        t,
        [
            ("registry.untrusted.com", false, true),
            ("registry3.com:5000", true, false)
        ]
    );
}

#[test]
fn the_first_table_of_a_prefix_counts_in_one_file() {
    let c = parse_ok(
        "[[registry]]\nlocation = \"b.com\"\n[[registry]]\nprefix = \"a.com\"\nlocation = \"one.com\"\n[[registry]]\nprefix = \"a.com\"\nlocation = \"two.com\"\n",
    );
    let t: Vec<(&str, &str)> = c
        .tables()
        .iter()
        .map(|t| (t.prefix.as_str(), t.location.as_str()))
        .collect();
    assert_eq!(t, [("a.com", "one.com"), ("b.com", "b.com")]);
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn places_follow_containers_image() {
    let home = tempfile::tempdir().unwrap();
    let env = Places::standard(Some("/x/r.conf".into()), Some(home.path()));
    assert_eq!(
        env,
        Places {
            main: "/x/r.conf".into(),
            main_required: true,
            drop_in_dirs: vec![
                SYSTEM_DROP_INS.into(),
                home.path().join(".config/containers/registries.conf.d")
            ],
        }
    );
    let system = Places::standard(None, Some(home.path()));
    assert_eq!(system.main, Path::new(SYSTEM_FILE));
    assert!(!system.main_required);
    assert_eq!(system.drop_in_dirs.len(), 2);
    write(&home.path().join(".config/containers/registries.conf"), "");
    let user = Places::standard(None, Some(home.path()));
    assert_eq!(
        user.main,
        home.path().join(".config/containers/registries.conf")
    );
    // The user's file replaces the system's, drop-ins included.
    assert_eq!(
        user.drop_in_dirs,
        [home.path().join(".config/containers/registries.conf.d")]
    );
}

#[test]
fn drop_ins_replace_tables_by_prefix_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("registries.conf");
    write(
        &main,
        "unqualified-search-registries = [\"a.com\"]\n[[registry]]\nlocation = \"a.com\"\n[[registry]]\nlocation = \"b.com\"\n",
    );
    let system = dir.path().join("system.d");
    let user = dir.path().join("user.d");
    write(
        &system.join("20-b.conf"),
        "[[registry]]\nlocation = \"b.com\"\nblocked = true\n",
    );
    write(
        &system.join("10-search.conf"),
        "unqualified-search-registries = [\"c.com\", \"d.com\"]\n",
    );
    write(&system.join("README"), "not toml at all [[[");
    write(
        &user.join("00-b.conf"),
        "[[registry]]\nlocation = \"b.com\"\ninsecure = true\n",
    );
    let places = Places {
        main: main.clone(),
        main_required: true,
        drop_in_dirs: vec![system.clone(), user.clone(), dir.path().join("missing.d")],
    };
    let c = RegistriesConf::load_from(&places).unwrap();
    assert_eq!(c.unqualified_search_registries(), ["c.com", "d.com"]);
    let b = c.tables().iter().find(|t| t.prefix == "b.com").unwrap();
    // The user's drop-in comes after the system's, whatever its name.
    assert!(b.insecure && !b.blocked);
    assert_eq!(b.file, user.join("00-b.conf"));
    assert_eq!(c.tables().len(), 2);

    write(
        &user.join("50-v1.conf"),
        "[registries.block]\nregistries = [\"x.com\"]\n",
    );
    let e = RegistriesConf::load_from(&places).unwrap_err();
    assert!(
        e.to_string()
            .contains("50-v1.conf:1: a drop-in must use version 2"),
        "{e}"
    );

    let gone = Places {
        main: dir.path().join("nope.conf"),
        main_required: true,
        drop_in_dirs: Vec::new(),
    };
    assert!(RegistriesConf::load_from(&gone).is_err());
    let optional = Places {
        main_required: false,
        ..gone
    };
    assert!(RegistriesConf::load_from(&optional)
        .unwrap()
        .tables()
        .is_empty());
}

//! `.dockerignore` matching as Docker's patternmatcher tests it.

use super::*;

fn ignore(patterns: &[&str]) -> Ignore {
    Ignore::new(patterns).unwrap()
}

/// patternmatcher's table of single patterns (a path also counts when a
/// parent directory matches).
#[test]
fn single_patterns() {
    for (pattern, path, excluded) in [
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**", "dir/file", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (r"a\\", r"a\", true),
        (r"a\*b", "a*b", true),
        (r"a\*b", "ab", false),
        // Go's filepath.Match table.
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[^e-g]", "abc", true),
        ("a?b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        (r"[\]a]", "]", true),
        (r"[x\-]", "-", true),
        (r"[x\-]", "z", false),
        ("*x", "xxx", true),
        // A directory's pattern covers what is inside it.
        ("docs", "docs/README.md", true),
        ("docs/", "docs/a/b", true),
        ("docs/*", "docs/a/b", true),
        ("*.go", "fileutils.go", true),
        ("*.go", ".", false),
        ("./a//b/../c", "a/c", true),
    ] {
        assert_eq!(
            ignore(&[pattern]).excludes(path),
            excluded,
            "{pattern} {path}"
        );
    }
}

#[test]
fn exceptions_and_last_match_wins() {
    for (patterns, path, excluded) in [
        (&["!fileutils.go", "*.go"][..], "fileutils.go", true),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (&["*", "!keep", "keep/drop"], "keep/drop/x", true),
        (&["*", "!keep", "keep/drop"], "keep/stay", false),
    ] {
        assert_eq!(
            ignore(patterns).excludes(path),
            excluded,
            "{patterns:?} {path}"
        );
    }
    assert!(!Ignore::default().excludes("anything"));
}

#[test]
fn reads_dockerignore_files() {
    let file = "\u{feff}# comment\n\n  node_modules  \n*.log\r\n  # not a comment\n\
                /build/\n!build/keep.txt\n! spaced\n./dot/../other\n";
    let ignore = Ignore::parse(file).unwrap();
    assert_eq!(
        ignore.patterns().collect::<Vec<_>>(),
        [
            "node_modules",
            "*.log",
            "# not a comment",
            "build",
            "!build/keep.txt",
            "!spaced",
            "other"
        ]
    );
    assert!(ignore.excludes("node_modules/x/y.js"));
    assert!(ignore.excludes("a.log"));
    assert!(!ignore.excludes("dir/a.log"));
    assert!(ignore.excludes("build/out.o"));
    assert!(!ignore.excludes("build/keep.txt"));
    assert!(ignore.excludes("# not a comment"));
    assert!(!ignore.excludes("comment"));
    assert!(ignore.excludes("other"));
    assert!(!ignore.excludes("."));
    assert!(!ignore.excludes(""));
    assert!(Ignore::parse("# only comments\n\n").unwrap().is_empty());
}

#[test]
fn refuses_bad_patterns() {
    for bad in [
        "!", "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "a\\",
    ] {
        let err = Ignore::new(&[bad]).unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{bad}");
    }
    assert!(Ignore::parse("ok\n!\n").is_err());
    assert!(Ignore::parse("a\n[z\n")
        .unwrap_err()
        .to_string()
        .contains("\"[z\""));
}

#[test]
fn tells_a_walker_where_exceptions_may_apply_as_fsutil_does() {
    let plain = ignore(&["build", "*.o"]);
    assert!(!plain.may_include_below("build"));
    // Plain exceptions: only the directories they go through.
    let paths = ignore(&["build", "!build/keep/x.txt", "logs", "!cache/**"]);
    assert!(paths.may_include_below("build"));
    assert!(paths.may_include_below("build/keep"));
    assert!(!paths.may_include_below("build/other"));
    assert!(!paths.may_include_below("logs"));
    assert!(paths.may_include_below("cache"));
    assert!(!paths.may_include_below("cache/deeper"));
    assert!(paths.may_include_below("."));
    // An exception with a wildcard before its end: every directory.
    let wild = ignore(&["build", "!build/keep/*.txt"]);
    assert!(wild.may_include_below("other"));
    let anywhere = ignore(&["subdir", "!**/sub1.txt"]);
    assert!(anywhere.may_include_below("subdir"));
    assert!(!anywhere.excludes("subdir/sub1.txt"));
    assert!(anywhere.excludes("subdir/sub2.txt"));
}

#[test]
fn parent_results_are_carried_as_buildkit_carries_them() {
    // The second `a` is not tried at `a` (it could not change the result
    // there), so `a/x` does not inherit it: the exception wins.
    let again = ignore(&["a", "!a/x", "a"]);
    assert!(again.excludes("a"));
    assert!(!again.excludes("a/x"));
    assert!(again.excludes("a/y"));
    // `!d` is not tried at `d` (not excluded there), so it does not bring
    // back what `d/*` excludes below it.
    let below = ignore(&["d/*", "!d"]);
    assert!(!below.excludes("d"));
    assert!(below.excludes("d/sub"));
    assert!(below.excludes("d/sub/file"));
    // At the top, a pattern is tried on every parent.
    let nested = ignore(&["a/b"]);
    assert!(nested.excludes("a/b/c/d"));
    assert!(!nested.excludes("a/c"));
}

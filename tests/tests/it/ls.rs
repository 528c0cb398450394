//! img-ls: Docker's table, filters, quiet/digests/no-trunc, formats, records.

use img_tests::{assert_golden, need, peers, Env};

/// A store with base (as busybox and mybusybox), derived, other, and a
/// dangling image (the old `other`, replaced by a tag move).
fn store() -> Env {
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived:v1");
    env.seed("other", "other");
    env.sh("img-tag busybox mybusybox && img-tag derived:v1 derived:v1-old && img-tag derived:v1 other")
        .ok();
    env
}

fn ids(env: &Env) -> Vec<(String, &'static str)> {
    let short = |image: &str| env.id(image)[7..19].to_string();
    vec![
        (short("busybox"), "{base}......"),
        (short("derived:v1"), "{derived}..."),
    ]
}

#[test]
fn table_like_docker_images() {
    if !need(peers::STORE) {
        return;
    }
    let env = store();
    let dangling = env
        .sh("img-ls -q --filter dangling=true")
        .ok()
        .stdout
        .trim()
        .to_string();
    let mut subs = ids(&env);
    subs.push((dangling.clone(), "{dangling}.."));
    let subs: Vec<(&str, &str)> = subs.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let run = env.sh("img-ls").ok();
    assert_golden("ls-table.txt", &run.stdout, &subs);
    let run = env.sh("img-ls busybox").ok();
    assert_golden("ls-busybox.txt", &run.stdout, &subs);
    assert_eq!(
        dangling.len(),
        12,
        "one dangling image with a 12-hex ID: {dangling:?}"
    );
    env.check_store();
}

#[test]
fn quiet_no_trunc_and_digests() {
    if !need(peers::STORE) {
        return;
    }
    let env = store();
    let base = env.id("busybox");
    let quiet = env.sh("img-ls -q").ok().stdout;
    // one ID per row, as Docker prints them (an image with two tags twice)
    assert_eq!(
        quiet.lines().filter(|l| base[7..19] == **l).count(),
        2,
        "{quiet}"
    );
    assert!(quiet.lines().all(|l| l.len() == 12));
    let full = env.sh("img-ls -q --no-trunc busybox").ok().stdout;
    assert_eq!(full.trim(), base);
    let digests = env.sh("img-ls --digests busybox").ok().stdout;
    let manifest = env
        .sh("img-inspect -f '{{.Descriptor.digest}}' busybox")
        .ok()
        .stdout;
    assert!(
        digests.starts_with("REPOSITORY   TAG       DIGEST"),
        "{digests}"
    );
    assert!(digests.contains(manifest.trim()), "{digests}");
}

#[test]
fn filters() {
    if !need(peers::STORE) {
        return;
    }
    let env = store();
    let names = |args: &str| -> Vec<String> {
        env.sh(&format!(
            "img-ls --format '{{{{.Repository}}}}:{{{{.Tag}}}}' {args}"
        ))
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
    };
    assert_eq!(names("--filter dangling=true"), ["<none>:<none>"]);
    assert_eq!(names("--filter dangling=false").len(), 5);
    assert_eq!(names("--filter reference=busy*"), ["busybox:latest"]);
    assert_eq!(
        names("--filter reference='*box'"),
        ["busybox:latest", "mybusybox:latest"]
    );
    assert_eq!(
        names("--filter reference='derived:*-old'"),
        ["derived:v1-old"]
    );
    assert_eq!(names("derived"), ["derived:v1", "derived:v1-old"]);
    assert_eq!(
        names("--filter label=app=demo"),
        ["derived:v1", "derived:v1-old", "other:latest"]
    );
    assert_eq!(names("--filter label=app=other").len(), 0);
    assert_eq!(
        names("--filter label=tier --filter label=app"),
        ["derived:v1", "derived:v1-old", "other:latest"]
    );
    // derived 2026-11-08, base 2026-11-01, the dangling one 2026-10-01
    assert_eq!(names("--filter before=busybox"), ["<none>:<none>"]);
    assert_eq!(
        names("--filter since=busybox"),
        ["derived:v1", "derived:v1-old", "other:latest"]
    );
    assert_eq!(
        names("--filter since=busybox --filter reference=other"),
        ["other:latest"]
    );
    for bad in [
        "--filter nope=1",
        "--filter dangling=maybe",
        "--filter bare",
        "--filter before=nosuch",
    ] {
        let code = if bad.contains("nosuch") { 1 } else { 2 };
        let run = env.sh(&format!("img-ls {bad}")).code(code);
        assert!(
            run.stderr.starts_with("img-ls: error: "),
            "{bad}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{bad}: {}", run.stderr);
    }
}

#[test]
fn formats() {
    if !need(peers::STORE) {
        return;
    }
    let env = store();
    let run = env
        .sh("img-ls --format 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}' derived")
        .ok();
    assert_eq!(
        run.stdout,
        "REPOSITORY   TAG       SIZE\nderived      v1        1.09MB\nderived      v1-old    1.09MB\n"
    );
    let run = env.sh("img-ls --format json busybox").ok();
    let row: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(row["Repository"], "busybox");
    assert_eq!(row["Tag"], "latest");
    assert_eq!(row["CreatedAt"], "2026-11-01 10:00:00 +0000 UTC");
    assert_eq!(row["CreatedSince"], "3 weeks ago");
    let run = env.sh("img-ls --format '{{.Nope' busybox").code(2);
    assert!(run.stderr.contains("template"), "{}", run.stderr);
    // an unknown field fails as Docker's does (exit 1), in a table too
    for bad in ["{{.Nope}}", "table {{.Repository}}\\t{{.Nope}}"] {
        let run = env.sh(&format!("img-ls --format '{bad}' busybox")).code(1);
        assert!(
            run.stderr
                .starts_with("img-ls: error: template parsing error: "),
            "{bad}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{bad}");
    }
    // a template naming .Digest shows the digests, as --digests does
    let manifest = env
        .sh("img-inspect -f '{{.Descriptor.Digest}}' busybox")
        .ok()
        .stdout;
    let run = env
        .sh("img-ls --format '{{.Tag}} {{.Digest}}' busybox")
        .ok();
    assert_eq!(run.stdout, format!("latest {manifest}"));
    // the template wins over -q; a bare 'table' does not
    let run = env.sh("img-ls -q --format '{{.Repository}}' busybox").ok();
    assert_eq!(run.stdout, "busybox\n");
    let run = env.sh("img-ls -q --format table busybox").ok();
    assert_eq!(run.stdout, format!("{}\n", &env.id("busybox")[7..19]));
}

#[test]
fn json_records_feed_other_programs() {
    if !need(peers::STORE) {
        return;
    }
    let env = store();
    let run = env.sh("img-ls --json").ok();
    let records = run.records();
    assert_eq!(records.len(), 6, "{}", run.stdout);
    let named: Vec<&str> = records
        .iter()
        .filter_map(|r| r["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(
        named.contains(&"docker.io/library/mybusybox:latest"),
        "{named:?}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r["annotations"].is_null())
            .count(),
        1
    );
    // records go back in: remove the dangling image through a pipe
    env.sh("img-ls --json --filter dangling=true | img-rm").ok();
    assert_eq!(env.sh("img-ls -q --filter dangling=true").ok().stdout, "");
    env.check_store();
}

#[test]
fn multi_platform_index_is_one_row() {
    if !need(peers::STORE) {
        return;
    }
    let env = Env::new();
    env.seed_all("multi", "multi");
    let index_digest = env
        .sh("jq -r '.manifests[0].digest' $STORE/index.json")
        .ok()
        .stdout;
    let run = env
        .sh("img-ls --no-trunc --format '{{.ID}} {{.Repository}}'")
        .ok();
    assert_eq!(run.stdout, format!("{} multi\n", index_digest.trim()));
    let record = &env.sh("img-ls --json").ok().records()[0];
    assert_eq!(
        record["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(record.get("platform").is_none());
    env.check_store();
}

#[test]
fn empty_store_prints_the_header() {
    let env = Env::new();
    let run = env.sh("img-ls").ok();
    assert_eq!(
        run.stdout,
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
    assert_eq!(env.sh("img-ls -q").ok().stdout, "");
}

//! img-fsck against planted damage of every kind: each is reported (one
//! line on stderr, a record per damaged image on stdout, exit 1), and
//! `--repair` fixes it while sound images stay whole. And the test
//! harness's own `check_store` (which runs img-fsck) fails on a damaged
//! store. Damage to snapshots, containers and the runtime's state is in
//! `containers.rs`.

use img_tests::{need, Env, Run};

mod containers;

const PEERS: &[&str] = &["skopeo", "umoci", "jq"];

fn fsck(env: &Env, args: &str) -> Run {
    env.sh(&format!("img-fsck {args}"))
}

/// The hex digest of `image`'s manifest (a name as img-ls shows it).
fn manifest(env: &Env, image: &str) -> String {
    let run = env
        .sh(&format!(
            "img-ls --json | jq -r 'select(.annotations[\"org.opencontainers.image.ref.name\"] == \"docker.io/library/{image}:latest\") | .digest[7:]'"
        ))
        .ok();
    let hex = run.stdout.trim().to_string();
    assert_eq!(hex.len(), 64, "no manifest for {image}: {}", run.stdout);
    hex
}

/// A field of `image`'s manifest (`.config.digest`, `.layers[0].digest`),
/// as hex.
fn part(env: &Env, image: &str, field: &str) -> String {
    let m = manifest(env, image);
    let run = env
        .sh(&format!("jq -r '{field}[7:]' $STORE/blobs/sha256/{m}"))
        .ok();
    run.stdout.trim().to_string()
}

/// Overwrite one byte of a blob (blobs are read-only files).
fn corrupt(env: &Env, hex: &str) {
    env.sh(&format!(
        "f=$STORE/blobs/sha256/{hex}; chmod u+w $f; printf 'X' | dd of=$f bs=1 seek=40 conv=notrunc status=none"
    ))
    .ok();
}

fn names(env: &Env) -> Vec<String> {
    let run = env.sh("img-ls --format '{{.Repository}}'").ok();
    let mut names: Vec<String> = run.stdout.lines().map(String::from).collect();
    names.sort();
    names
}

#[test]
fn a_sound_store_is_clean_and_says_what_it_checked() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed_all("multi", "multi");
    let run = fsck(&env, "").ok();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "img-fsck: checked 7 blobs (1.086MB), 2 images, 0 snapshots, 0 containers: no problems\n"
    );
    let run = fsck(&env, "-q --deep").ok();
    assert_eq!(run.stderr, "");
}

#[test]
fn a_corrupt_blob_is_reported_and_repair_removes_it_with_the_names_that_need_it() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.seed("derived", "derived");
    env.seed("other", "other");
    // busybox's layer is derived's first layer too.
    let layer = part(&env, "busybox", ".layers[0].digest");
    corrupt(&env, &layer);
    let run = fsck(&env, "").code(1);
    let damaged = run.fsck_lines("damaged");
    assert_eq!(damaged.len(), 3, "{}", run.stderr);
    assert!(
        damaged[0].starts_with(&format!(
            "blob sha256:{layer}: its content hashes to sha256:"
        )),
        "{}",
        damaged[0]
    );
    assert!(damaged
        .contains(&format!("image busybox:latest: its layer sha256:{layer} is corrupt").as_str()));
    assert!(damaged
        .contains(&format!("image derived:latest: its layer sha256:{layer} is corrupt").as_str()));
    assert!(run
        .stderr
        .ends_with(": 3 problems (3 damaged, 0 leftovers); img-fsck --repair fixes them\n"));
    let records = run.records();
    let mut named: Vec<&str> = records
        .iter()
        .map(|r| {
            r["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    named.sort();
    assert_eq!(named, ["busybox", "derived"], "a record per damaged image");

    let run = fsck(&env, "--repair").ok();
    for line in [
        "img-fsck: untagged: busybox:latest",
        "img-fsck: untagged: derived:latest",
        &format!("img-fsck: removed corrupt blob sha256:{layer}"),
    ] {
        assert!(
            run.stderr.lines().any(|l| l == line),
            "{line} in {}",
            run.stderr
        );
    }
    assert!(run.stderr.ends_with("; all repaired\n"), "{}", run.stderr);
    assert_eq!(names(&env), ["other"], "the sound image stays");
    env.sh("img-export other | tar -tf - | grep -x other.txt")
        .ok();
    env.check_store();
    // The images come back whole from where they came.
    env.seed("base", "busybox");
    env.sh("img-export busybox | tar -tf - | grep -x bin/busybox")
        .ok();
    env.check_store();
}

#[test]
fn missing_blobs_and_an_index_without_its_images_are_reported() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("other", "other");
    env.seed_all("multi", "multi");
    let config = part(&env, "other", ".config.digest");
    env.sh(&format!("rm $STORE/blobs/sha256/{config}")).ok();
    let run = fsck(&env, "").code(1);
    assert_eq!(
        run.fsck_lines("damaged"),
        [format!(
            "image other:latest: its config sha256:{config} is missing"
        )]
    );
    // An index may lack platforms (a pull keeps the ones asked for)...
    let index = manifest(&env, "multi");
    let children: Vec<String> = env
        .sh(&format!(
            "jq -r '.manifests[].digest[7:]' $STORE/blobs/sha256/{index}"
        ))
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(children.len(), 2);
    env.sh(&format!("rm $STORE/blobs/sha256/{}", children[1]))
        .ok();
    let run = fsck(&env, "").code(1);
    assert_eq!(run.fsck_lines("damaged").len(), 1, "{}", run.stderr);
    // ...but not all of them.
    env.sh(&format!("rm $STORE/blobs/sha256/{}", children[0]))
        .ok();
    let run = fsck(&env, "").code(1);
    assert_eq!(
        run.fsck_lines("damaged")[1],
        format!("image multi:latest: its index sha256:{index} holds none of its 2 images (they are missing)")
    );
    assert_eq!(run.records().len(), 2);
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains("img-fsck: untagged: multi:latest"),
        "{}",
        run.stderr
    );
    assert!(names(&env).is_empty());
    env.check_store();
}

#[test]
fn what_is_no_blob_and_a_broken_index_json() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("other", "other");
    env.sh("echo notes > $STORE/blobs/sha256/notes.txt && mkdir $STORE/blobs/sha256/$(printf 'a%.0s' $(seq 64))")
        .ok();
    let run = fsck(&env, "").code(1);
    let damaged = run.fsck_lines("damaged");
    for want in [
        format!(
            "blobs/sha256/{}: not a regular file; it is no blob",
            "a".repeat(64)
        ),
        "blobs/sha256/notes.txt: not named by a sha256 digest; it is no blob".to_string(),
    ] {
        assert!(damaged.contains(&want.as_str()), "{want} in {}", run.stderr);
    }
    assert_eq!(run.fsck_lines("damaged").len(), 2, "{}", run.stderr);
    fsck(&env, "--repair -q").ok();
    env.check_store();
    assert_eq!(names(&env), ["other"]);
    // A broken index.json: reported, and left for the user.
    env.sh("echo '{broken' > $STORE/index.json").ok();
    let run = fsck(&env, "--repair").code(1);
    assert!(
        run.stderr
            .contains("img-fsck: damaged: the store's index.json is not a valid OCI index"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("img-fsck: not repaired: the store's index.json"),
        "{}",
        run.stderr
    );
    assert_eq!(env.index_bytes(), b"{broken\n");
}

#[test]
fn leftovers_of_interrupted_programs_are_reported_and_removed() {
    if !need(PEERS) || !need(&["flock"]) {
        return;
    }
    let env = Env::new();
    env.seed("other", "other");
    let step = "f".repeat(64);
    let (old, young, held) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    env.sh(&format!(
        "cd $STORE && mkdir -p .img/ingest
         printf 12345 > .img/ingest/blob-abandoned
         printf '{{}}' > .tmp-index
         mkdir -p .img/snapshots/tmp-unpack/etc .img/build/tmp-build/{step}/upper .img/containers/{step}/upper
         for p in {old} {young} {held}; do head -c 3000 /dev/zero > .img/ingest/partial-$p; done
         touch -d '25 hours ago' .img/ingest/partial-{old} .img/ingest/partial-{held}"
    ))
    .ok();
    // A pull holds one old download, as a running img-pull would.
    let script = format!(
        "mkfifo ctl; P=$STORE/.img/ingest/partial-{held}
         flock $P cat ctl >/dev/null 2>&1 & holder=$!
         exec 8<>ctl
         until ! flock -n $P true; do sleep 0.01; done
         img-fsck > out 2> err; status=$?
         img-fsck --repair >> out 2>> err || status=$?
         exec 8>&-; wait $holder; cat err >&2; exit $status"
    );
    let run = env.sh(&script).code(1);
    let leftovers = run.fsck_lines("leftover");
    let expected = [
        format!("partial download of sha256:{} (3kB): no pull continued it for 25 hours", &old[..12]),
        ".img/ingest/blob-abandoned (5B): a temporary file of a write that never finished".to_string(),
        ".tmp-index (2B): a temporary file of an index.json update that never finished".to_string(),
        ".img/snapshots/tmp-unpack (0B): a layer being unpacked when its program ended".to_string(),
        ".img/build/tmp-build (0B): the directory of a build that never finished".to_string(),
        format!(".img/containers/{step} (0B): a container whose img-run ended before it wrote its record"),
    ];
    for want in &expected {
        assert_eq!(
            leftovers.iter().filter(|l| *l == want).count(),
            2,
            "{want} found by the check and by the repair:\n{}",
            run.stderr
        );
    }
    assert_eq!(leftovers.len(), 2 * expected.len(), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("img-fsck: note: 1 partial downloads (3kB) wait for their pull"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("; all repaired\n"), "{}", run.stderr);
    let left = env.sh("cd $STORE && ls -A .img/ingest .img/snapshots .img/build .img/containers; ls -A | grep tmp || true").ok();
    assert_eq!(
        left.stdout,
        format!(".img/build:\n\n.img/containers:\n\n.img/ingest:\npartial-{young}\npartial-{held}\n\n.img/snapshots:\n")
    );
    // Released by its pull, the old download is a leftover now.
    let run = fsck(&env, "--repair").ok();
    assert!(
        run.stderr.contains(&format!(
            "img-fsck: removed the partial download of sha256:{held}"
        )),
        "{}",
        run.stderr
    );
    env.check_store();
}

#[test]
fn the_temporary_files_of_a_running_writer_are_not_judged_and_a_repair_waits_for_it() {
    if !need(PEERS) || !need(&["flock"]) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // A running img-load holds the store with its staged blobs in the
    // ingest area until the rest of its archive comes.
    let script = r#"
        img-save -o a.tar busybox && img-rm busybox >/dev/null
        mkfifo in; exec 7<>in
        img-load -q <in >/dev/null 2>&1 & loader=$!
        head -c 600000 a.tar >&7
        for _ in $(seq 3000); do [ "$(ls $STORE/.img/ingest)" ] && break; sleep 0.01; done
        img-fsck > check.out 2> check.err; echo "check $?"
        IMG_GC_WAIT=0.2 img-fsck --repair > repair.out 2> repair.err; echo "repair $?"
        tail -c +600001 a.tar >&7; exec 7>&-; wait $loader; echo "load $?"
        cat check.err repair.err
    "#;
    let run = env.sh(script).ok();
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("check 0"), "{}", run.stdout);
    assert_eq!(lines.next(), Some("repair 1"), "{}", run.stdout);
    assert_eq!(lines.next(), Some("load 0"), "{}", run.stdout);
    assert!(
        run.stdout.contains("img-fsck: note: programs are writing to the store: the temporary files they may own were not judged"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("img-fsck: error: gave up after 0.2 s waiting for the programs writing to the store to finish (img-load (pid "),
        "{}",
        run.stdout
    );
    env.sh("img-inspect busybox >/dev/null").ok();
    env.check_store();
}

#[test]
fn deep_checks_each_layer_against_its_diff_id() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    // An image whose config names another diff_id than its layer's.
    let m = manifest(&env, "busybox");
    let script = format!(
        r#"cd $STORE/blobs/sha256
        c=$(jq -r '.config.digest[7:]' {m})
        jq -c '.rootfs.diff_ids[0] = "sha256:{zeros}"' $c > ../../new-config
        nc=$(sha256sum ../../new-config | cut -c1-64); ns=$(stat -c%s ../../new-config); mv ../../new-config $nc
        jq -c --arg d sha256:$nc --argjson s $ns '.config.digest = $d | .config.size = $s' {m} > ../../new-manifest
        nm=$(sha256sum ../../new-manifest | cut -c1-64); ms=$(stat -c%s ../../new-manifest); mv ../../new-manifest $nm
        cd $STORE
        jq -c --arg d sha256:$nm --argjson s $ms '.manifests += [{{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s, annotations: {{"org.opencontainers.image.ref.name": "liar"}}}}]' index.json > i && mv i index.json"#,
        zeros = "0".repeat(64)
    );
    env.sh(&script).ok();
    fsck(&env, "").ok();
    let run = fsck(&env, "--deep").code(1);
    let damaged = run.fsck_lines("damaged");
    assert_eq!(damaged.len(), 1, "{}", run.stderr);
    assert!(
        damaged[0].starts_with("image liar:latest: its layer sha256:")
            && damaged[0].ends_with(&format!(
                ", not to sha256:{}, the diff_id its config gives",
                "0".repeat(64)
            )),
        "{}",
        damaged[0]
    );
    fsck(&env, "--deep --repair -q").ok();
    assert_eq!(names(&env), ["busybox"]);
    fsck(&env, "--deep").ok();
}

#[test]
fn check_store_fails_on_a_damaged_store() {
    if !need(PEERS) {
        return;
    }
    let env = Env::new();
    env.seed("base", "busybox");
    env.check_store();
    corrupt(&env, &part(&env, "busybox", ".config.digest"));
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.check_store()));
    let message = failed.expect_err("check_store passes a corrupt store");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("img-fsck finds store"), "{message}");
    assert!(message.contains("(corrupt)"), "{message}");
}

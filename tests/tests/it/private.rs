//! The store's working area is its owner's alone: unpacked layers keep an
//! image's setuid-root files, so no other user of the host may reach them
//! (issue 11, defect 2), while the OCI layout stays readable for the other
//! OCI tools.

use img_tests::{need, Env};

/// Run `script` as a user that exists nowhere (uid and gid 65534, no
/// supplementary groups).
fn as_nobody(script: &str) -> String {
    format!(
        "setpriv --reuid 65534 --regid 65534 --clear-groups -- env PATH=\"$PATH\" IMG_ROOT=\"$IMG_ROOT\" STORE=\"$STORE\" HOME=/nonexistent sh -c '{script}'"
    )
}

/// Stops a detached container when the test ends, whether it passed or not.
struct StopOnDrop<'a>(&'a Env, &'a str);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0
            .sh(&format!("img-stop -t 1 {} >/dev/null 2>&1 || true", self.1));
    }
}

#[test]
fn setuid_files_of_snapshots_are_out_of_other_users_reach() {
    if !need(&["runc", "setpriv", "skopeo", "umoci"]) {
        return;
    }
    let env = Env::new();
    // Another user reaches the store through the test's scratch directory.
    env.sh("chmod 0755 .").ok();
    env.sh(
        "mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/busybox && ln -s busybox rootfs/bin/sh \
         && cp /bin/busybox rootfs/bin/su-shell && chmod 4755 rootfs/bin/su-shell \
         && tar --owner=0 --group=0 -C rootfs -cf rootfs.tar . \
         && img-import rootfs.tar suid:1 >/dev/null 2>&1 && img-run --name kept suid:1 busybox true \
         && img-run -d --name bg suid:1 sh -c 'echo secret-line; exec busybox sleep 1000' >/dev/null \
         && wait_for 60 'grep -q secret-line $STORE/.img/containers/*/*-json.log'",
    )
    .ok();
    let _stop = StopOnDrop(&env, "bg");
    // A container's log (the running one's, picked by what it printed) and
    // the runtime's state (with its owner's lock) exist, as img.7 says, and
    // are as private as the snapshots.
    let log = env
        .sh("grep -l secret-line $STORE/.img/containers/*/*-json.log")
        .ok()
        .stdout
        .trim()
        .to_string();
    env.sh("test -d $STORE/.img/runtime/owned && ls $STORE/.img/runtime/owned | grep -q lock")
        .ok();
    // The snapshot holds the file, setuid root, as the image has it.
    let found = env
        .sh("find $STORE/.img/snapshots -name su-shell -perm -4000 -user 0")
        .ok()
        .stdout;
    let file = found.trim();
    assert!(
        file.ends_with("/bin/su-shell"),
        "no setuid snapshot: {found:?}"
    );
    // As another user, none of the working area is reachable…
    let probe = |env: &Env| {
        env.sh(&as_nobody(&format!(
            "test -e {file} && echo reached the file; \
             cat {log} 2>/dev/null && echo read the log; \
             for d in $STORE/.img $STORE/.img/snapshots $STORE/.img/containers $STORE/.img/runtime; do \
               (cd \"$d\") 2>/dev/null && echo \"entered $d\"; \
             done; {file} true && echo ran"
        )))
    };
    let run = probe(&env);
    assert_eq!(run.stdout, "", "{}", run.stderr);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    // …while the OCI layout is readable to it, by img and by the other tools.
    let run = env
        .sh(&as_nobody(
            "img-ls --format {{.Repository}}:{{.Tag}} && skopeo inspect --raw oci:$STORE:docker.io/library/suid:1 >/dev/null && umoci ls --layout $STORE",
        ))
        .ok();
    assert_eq!(
        run.stdout, "suid:1\ndocker.io/library/suid:1\n",
        "{}",
        run.stderr
    );
    // A store made before the rule (.img open to all) is reachable — the
    // probe above can fail — until its owner opens it again.
    env.sh("chmod 0755 $STORE/.img").ok();
    let run = probe(&env);
    for reached in ["reached the file", "read the log", "/.img/runtime\n"] {
        assert!(run.stdout.contains(reached), "{reached}: {run:?}");
    }
    env.sh("img-ls -q >/dev/null").ok();
    let run = probe(&env);
    assert_eq!(run.stdout, "", "{}", run.stderr);
    env.sh("img-stop -t 1 bg >/dev/null && img-prune -f --containers >/dev/null")
        .ok();
    env.check_store();
}

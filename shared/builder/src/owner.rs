//! Who owns what a file step writes (`COPY --chown`, `ADD --chown`, and
//! the directory WORKDIR makes for the stage's USER), as BuildKit's file
//! operations decide it — not as a container's user is resolved:
//!
//! * a numeric user is that ID, with the same number as its group;
//! * a user name is looked up in the image's `/etc/passwd` (its ID and
//!   primary group); a name that is not there is root (0:0);
//! * a group after `:` replaces the group: a number as it is, a name
//!   looked up in `/etc/group` (left as it was when not there).
//!
//! A missing `/etc/passwd` or `/etc/group` counts as one without the name.
//! The files are read inside the root filesystem, links resolved in it.

use std::io::Read;
use std::path::Path;

use img_core::confine::Root;

/// The (uid, gid) that `spec` (`user[:group]`) names in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> (u32, u32) {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let (uid, mut gid) = match user.parse::<u32>() {
        Ok(id) => (id, id),
        Err(_) => entries(rootfs, "etc/passwd")
            .into_iter()
            .find(|fields| fields.first().map(String::as_str) == Some(user))
            .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
            .unwrap_or((0, 0)),
    };
    if let Some(group) = group {
        match group.parse::<u32>() {
            Ok(id) => gid = id,
            Err(_) => {
                if let Some(id) = entries(rootfs, "etc/group")
                    .into_iter()
                    .find(|fields| fields.first().map(String::as_str) == Some(group))
                    .and_then(|fields| fields.get(2)?.parse().ok())
                {
                    gid = id;
                }
            }
        }
    }
    (uid, gid)
}

/// The `:`-separated fields of each line of a file of the image.
fn entries(rootfs: &Path, rel: &str) -> Vec<Vec<String>> {
    let Ok(mut file) = Root::open(rootfs).and_then(|root| root.open_file(rel.as_bytes())) else {
        return Vec::new();
    };
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    text.lines()
        .map(|line| line.split(':').map(str::to_string).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_as_buildkit_file_operations_take_them() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // No passwd, no group: numbers only.
        assert_eq!(resolve(r, "1234"), (1234, 1234));
        assert_eq!(resolve(r, "nobody:nogroup"), (0, 0));
        std::fs::create_dir(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\nwww:x:33:\n").unwrap();
        assert_eq!(resolve(r, "app"), (1000, 1001));
        assert_eq!(resolve(r, "app:www"), (1000, 33));
        assert_eq!(resolve(r, "app:7"), (1000, 7));
        assert_eq!(resolve(r, "7:www"), (7, 33));
        assert_eq!(resolve(r, "ghost"), (0, 0));
        assert_eq!(resolve(r, "5:ghost"), (5, 5));
    }
}

//! A container's user, as Docker resolves `USER` / `--user`: `NAME` or
//! `UID`, optionally `:GROUP` or `:GID`, looked up in the container's own
//! `/etc/passwd` and `/etc/group` (never the host's). A numeric ID missing
//! from the files is used as it is (group 0 when none is given), as Docker
//! does; a name missing from them is an error. The user's supplementary
//! groups are the groups of `/etc/group` that list the user's name.

use std::io::Read;
use std::path::Path;

use img_core::confine::Root;
use img_core::error::{Error, Result};

/// Who the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user ID.
    pub uid: u32,
    /// The primary group ID.
    pub gid: u32,
    /// Supplementary group IDs.
    pub groups: Vec<u32>,
    /// The home directory (`HOME` when the image sets none).
    pub home: String,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolve `spec` (empty: root) against the root filesystem `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User> {
    let passwd = read_passwd(rootfs);
    let groups = read_groups(rootfs);
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = passwd.iter().find(|p| p.name == user_part).or_else(|| {
        let uid: u32 = user_part.parse().ok()?;
        passwd.iter().find(|p| p.uid == uid)
    });
    let (uid, mut gid, name, home) = match (entry, user_part.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, Some(p.name.clone()), p.home.clone()),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(Error::invalid(format!(
                "unable to find user {user_part}: no matching entries in the image's /etc/passwd"
            )))
        }
    };
    if let Some(group) = group_part.filter(|g| !g.is_empty()) {
        gid = match groups.iter().find(|g| g.name == group) {
            Some(g) => g.gid,
            None => group.parse().map_err(|_| {
                Error::invalid(format!(
                    "unable to find group {group}: no matching entries in the image's /etc/group"
                ))
            })?,
        };
    }
    let mut supplementary: Vec<u32> = match &name {
        Some(name) if group_part.is_none() => groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name) && g.gid != gid)
            .map(|g| g.gid)
            .collect(),
        _ => Vec::new(),
    };
    supplementary.dedup();
    Ok(User {
        uid,
        gid,
        groups: supplementary,
        home,
    })
}

fn read_passwd(rootfs: &Path) -> Vec<Passwd> {
    lines(rootfs, "etc/passwd")
        .filter_map(|fields| {
            Some(Passwd {
                name: fields.first()?.clone(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).cloned().unwrap_or_else(|| "/".into()),
            })
        })
        .collect()
}

fn read_groups(rootfs: &Path) -> Vec<Group> {
    lines(rootfs, "etc/group")
        .filter_map(|fields| {
            Some(Group {
                name: fields.first()?.clone(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The colon-separated fields of each line of a file in the root
/// filesystem; a missing or unreadable file has none. The file is read
/// through the root filesystem's [`Root`], whose `/etc` is the image's
/// own: a link in the image is followed inside it, never out of it.
fn lines(rootfs: &Path, rel: &str) -> impl Iterator<Item = Vec<String>> {
    let mut text = String::new();
    if let Ok(mut file) = Root::open(rootfs).and_then(|root| root.open_file(rel.as_bytes())) {
        if file.read_to_string(&mut text).is_err() {
            text.clear();
        }
    }
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').map(String::from).collect())
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\nadm:x:4:www\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn names_and_ids_resolve_as_docker_does() {
        let root = rootfs();
        let r = root.path();
        let root_user = resolve(r, "").unwrap();
        assert_eq!((root_user.uid, root_user.gid), (0, 0));
        assert_eq!(root_user.home, "/root");
        let www = resolve(r, "www").unwrap();
        assert_eq!((www.uid, www.gid, www.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(www.groups, vec![50, 4]);
        assert_eq!(resolve(r, "33").unwrap().gid, 33);
        let explicit = resolve(r, "www:staff").unwrap();
        assert_eq!((explicit.gid, explicit.groups.len()), (50, 0));
        let numeric = resolve(r, "1000:1000").unwrap();
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.home.as_str()),
            (1000, 1000, "/")
        );
        assert_eq!(resolve(r, "1000").unwrap().gid, 0);
        assert!(resolve(r, "nobody")
            .unwrap_err()
            .to_string()
            .contains("unable to find user nobody"));
        assert!(resolve(r, "www:nogroup").is_err());
    }

    #[test]
    fn the_images_links_are_followed_inside_it_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, host) = (tmp.path().join("root"), tmp.path().join("host"));
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(&host).unwrap();
        fs::write(host.join("passwd"), "evil:x:666:666::/:/bin/sh\n").unwrap();
        fs::write(root.join("usr/lib/passwd"), "app:x:7:7::/app:/bin/sh\n").unwrap();
        // `etc` leads to the host's directory if followed on the host.
        std::os::unix::fs::symlink("../host", root.join("etc")).unwrap();
        assert!(resolve(&root, "evil").is_err());
        fs::remove_file(root.join("etc")).unwrap();
        fs::create_dir(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/passwd", root.join("etc/passwd")).unwrap();
        assert_eq!(resolve(&root, "app").unwrap().uid, 7);
    }
}

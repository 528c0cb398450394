//! `RUN --mount`, as BuildKit mounts things into a RUN step:
//!
//! * `type=bind` (the default): a directory or file of the build context,
//!   or of another stage or image (`from=`), at `target`; read-only, or
//!   with `rw` writable with the writes thrown away.
//! * `type=cache`: a directory that outlives the build
//!   (`ROOT/.img/build-mounts/HEX`, one per `id`, default the target), for
//!   package managers' caches; created with `mode`, `uid` and `gid`.
//! * `type=tmpfs`: an empty tmpfs.
//! * `type=secret`: a file given to img-build with `--secret id=NAME,src=PATH`
//!   (or `env=VAR`, then written when a step mounts it into the build's
//!   directory in the store, which goes with the build), read-only at
//!   `target` (default `/run/secrets/NAME`), or with `env=` as an
//!   environment variable; never in the image, the history or the cache
//!   key. A secret that is missing is skipped unless `required`.
//!
//! What is mounted is never part of the step's layer; mount points that
//! the runtime had to make are taken out of it again (see
//! [`remove_mount_points`]).

use std::fs;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use img_core::confine::{self, Root};
use img_core::error::{Error, IoContext, Result};
use img_core::path::inside;

/// What a `--mount` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory or file of the context or another stage.
    Bind,
    /// A directory kept between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file.
    Secret,
}

/// One `--mount` value, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Its type.
    pub kind: Kind,
    /// Where it is mounted in the container (absolute).
    pub target: String,
    /// The path inside the source (bind, cache `from=`).
    pub source: Option<String>,
    /// The stage or image a bind comes from (the context when `None`).
    pub from: Option<String>,
    /// Writable (bind: writes thrown away; cache is always writable).
    pub rw: bool,
    /// The cache's or secret's ID.
    pub id: Option<String>,
    /// Mode of a new cache directory, or of the secret file.
    pub mode: Option<u32>,
    /// Owner of a new cache directory.
    pub uid: Option<u32>,
    /// Group of a new cache directory.
    pub gid: Option<u32>,
    /// A missing secret is an error.
    pub required: bool,
    /// A secret given as this environment variable instead of a file.
    pub env: Option<String>,
}

/// Read one `--mount` value: comma-separated `key=value` pairs and flags.
pub fn parse(text: &str) -> Result<Mount> {
    let bad = |why: String| Error::invalid(format!("--mount={text}: {why}"));
    let mut mount = Mount {
        kind: Kind::Bind,
        target: String::new(),
        source: None,
        from: None,
        rw: false,
        id: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
    };
    let number = |key: &str, value: &str, radix: u32| {
        u32::from_str_radix(value, radix).map_err(|_| bad(format!("{key}={value} is not a number")))
    };
    for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let flag = |value: Option<&str>| match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(bad(format!("{key}={other}: expected true or false"))),
        };
        let text_value = || {
            value
                .map(String::from)
                .ok_or_else(|| bad(format!("{key} needs a value")))
        };
        match key.as_str() {
            "type" => {
                mount.kind = match value.unwrap_or_default() {
                    "bind" => Kind::Bind,
                    "cache" => Kind::Cache,
                    "tmpfs" => Kind::Tmpfs,
                    "secret" => Kind::Secret,
                    other => {
                        return Err(bad(format!(
                            "type={other} is not supported (bind, cache, tmpfs or secret)"
                        )))
                    }
                }
            }
            "target" | "dst" | "destination" => mount.target = text_value()?,
            "source" | "src" => mount.source = Some(text_value()?),
            "from" => mount.from = Some(text_value()?),
            "rw" | "readwrite" => mount.rw = flag(value)?,
            "ro" | "readonly" => mount.rw = !flag(value)?,
            "id" => mount.id = Some(text_value()?),
            "mode" => mount.mode = Some(number(&key, &text_value()?, 8)?),
            "uid" => mount.uid = Some(number(&key, &text_value()?, 10)?),
            "gid" => mount.gid = Some(number(&key, &text_value()?, 10)?),
            "required" => mount.required = flag(value)?,
            "env" => mount.env = Some(text_value()?),
            // Accepted and not needed here: caches are shared, tmpfs
            // sizes are the kernel's default.
            "sharing" | "size" => {}
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    if mount.kind == Kind::Secret {
        let id = mount
            .id
            .clone()
            .or_else(|| mount.target.rsplit('/').next().map(String::from))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("a secret needs an id".into()))?;
        if mount.target.is_empty() && mount.env.is_none() {
            mount.target = format!("/run/secrets/{id}");
        }
        mount.id = Some(id);
    } else if mount.target.is_empty() {
        return Err(bad("it needs a target".into()));
    }
    if !mount.target.is_empty() && !mount.target.starts_with('/') {
        mount.target = format!("/{}", mount.target);
    }
    Ok(mount)
}

/// A secret given to the build (`--secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its ID, as `--mount=type=secret,id=` names it.
    pub id: String,
    /// Where its value is.
    pub source: SecretSource,
}

/// Where a secret's value is: img-build reads it only when a step mounts
/// it, so that no copy of it exists before (and none outside the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (`src=PATH`), absolute: the runtime binds it from the
    /// bundle's directory.
    File(PathBuf),
    /// An environment variable of img-build (`env=VAR`).
    Env(String),
}

impl Secret {
    /// Read Docker's `--secret id=NAME[,src=PATH|,env=VAR][,type=file|env]`
    /// (without `src`, the variable named `env`, else `NAME`); refused
    /// when the file or the variable is missing.
    pub fn parse(text: &str) -> Result<Secret> {
        let bad = |why: &str| Error::invalid(format!("--secret {text}: {why}"));
        let (mut id, mut source, mut env) = (None, None, None);
        for field in text.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => source = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => return Err(bad("expected id=NAME and src=PATH or env=VAR")),
            }
        }
        let id = id.ok_or_else(|| bad("it needs an id"))?;
        let source = match (source, env) {
            (Some(path), _) => {
                if !path.is_file() {
                    return Err(bad(&format!("{} is not a file", path.display())));
                }
                let path = std::path::absolute(&path)
                    .io_context(|| format!("resolving {}", path.display()))?;
                SecretSource::File(path)
            }
            (None, variable) => {
                let variable = variable.unwrap_or_else(|| id.clone());
                if std::env::var_os(&variable).is_none() {
                    return Err(bad(&format!("the environment has no {variable}")));
                }
                SecretSource::Env(variable)
            }
        };
        Ok(Secret { id, source })
    }

    /// Its value (for `RUN --mount=type=secret,env=`).
    pub fn value(&self) -> Result<String> {
        match &self.source {
            SecretSource::File(path) => fs::read_to_string(path)
                .io_context(|| format!("reading secret {} from {}", self.id, path.display())),
            SecretSource::Env(variable) => std::env::var(variable).map_err(|_| {
                Error::invalid(format!(
                    "secret {}: the environment variable {variable} is gone or not UTF-8",
                    self.id
                ))
            }),
        }
    }

    /// A file holding it, to bind into a step: its own file, or for a
    /// variable a file written into `build_dir/secrets` (mode 0700), the
    /// build's own directory in the store: it goes with the build, and a
    /// killed build's is removed with the rest of what it left (img-prune,
    /// img-fsck --repair), never left in a shared temporary directory.
    pub fn file(&self, build_dir: &Path) -> Result<PathBuf> {
        let variable = match &self.source {
            SecretSource::File(path) => return Ok(path.clone()),
            SecretSource::Env(variable) => variable,
        };
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = build_dir.join("secrets");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .io_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!(
            "secret-{}",
            img_core::digest::of_bytes(self.id.as_bytes()).digest()
        ));
        let value = self.value()?;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, value.as_bytes()))
            .io_context(|| format!("writing secret {} ({variable})", self.id))?;
        Ok(path)
    }
}

/// The persistent directory of the cache mount `id` in the store, made
/// with `mode`, `uid` and `gid` when new.
pub(crate) fn cache_dir(state_dir: &Path, mount: &Mount) -> Result<PathBuf> {
    let id = mount.id.clone().unwrap_or_else(|| mount.target.clone());
    let dir = state_dir
        .join("build-mounts")
        .join(img_core::digest::of_bytes(id.as_bytes()).digest());
    if !dir.is_dir() {
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            &dir,
            fs::Permissions::from_mode(mount.mode.unwrap_or(0o755)),
        )
        .io_context(|| format!("setting the mode of {}", dir.display()))?;
        std::os::unix::fs::chown(
            &dir,
            Some(mount.uid.unwrap_or(0)),
            Some(mount.gid.unwrap_or(0)),
        )
        .io_context(|| format!("setting the owner of {}", dir.display()))?;
    }
    Ok(dir)
}

/// Whether `rel` exists in the image whose layers (overlay lower
/// directories, top first) are `lowers`: the topmost layer that has it or
/// a whiteout for it decides. Each layer is looked at as overlayfs does,
/// through real directories only: the image's links are never followed.
pub(crate) fn exists_in(lowers: &[PathBuf], rel: &str) -> bool {
    for lower in lowers {
        let Ok(root) = Root::open(lower) else {
            continue;
        };
        let Ok(Some((dir, name))) = root.parent_no_links(rel.as_bytes()) else {
            continue;
        };
        if let Ok(Some(stat)) = dir.stat(name) {
            let whiteout = FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
                && stat.st_rdev == 0;
            return !whiteout;
        }
    }
    false
}

/// Take out of a step's upper directory the mount points the runtime made
/// for `targets`: an empty directory or file at a target, and each empty
/// directory above it, that the image did not have before the step. What
/// the step left there is looked at through real directories only, so a
/// link it made never leads out of the upper directory.
pub(crate) fn remove_mount_points(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    let Ok(root) = Root::open(upper) else {
        return;
    };
    for target in targets {
        let Ok(rel) = inside(target) else { continue };
        let mut here = rel.as_str();
        while !here.is_empty() {
            if exists_in(lowers, here) {
                break;
            }
            let Ok(Some((dir, name))) = root.parent_no_links(here.as_bytes()) else {
                break;
            };
            let removed = match dir.stat(name) {
                Ok(Some(stat)) if confine::is_dir(&stat) => {
                    let empty = dir
                        .open_dir(name)
                        .and_then(|d| d.names())
                        .is_ok_and(|names| names.is_empty());
                    empty && dir.remove_empty_dir(name).unwrap_or(false)
                }
                Ok(Some(stat))
                    if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile =>
                {
                    stat.st_size == 0 && dir.remove_file(name).unwrap_or(false)
                }
                _ => false,
            };
            if !removed {
                break;
            }
            here = here.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_written_only_for_a_file_mount_of_a_variable_and_only_in_the_build_dir() {
        use std::os::unix::fs::PermissionsExt;
        let build = tempfile::tempdir().unwrap();
        fs::write(build.path().join("token"), "s3cret").unwrap();
        let file = Secret::parse(&format!(
            "id=t,src={}",
            build.path().join("token").display()
        ))
        .unwrap();
        assert_eq!(file.value().unwrap(), "s3cret");
        assert_eq!(file.file(build.path()).unwrap(), build.path().join("token"));
        assert!(
            !build.path().join("secrets").exists(),
            "a file needs no copy"
        );
        let path = std::env::var("PATH").unwrap();
        let env = Secret::parse("id=p,env=PATH").unwrap();
        assert_eq!(env.source, SecretSource::Env("PATH".into()));
        assert_eq!(env.value().unwrap(), path);
        assert!(
            !build.path().join("secrets").exists(),
            "nothing before a mount"
        );
        let written = env.file(build.path()).unwrap();
        assert_eq!(
            written.parent(),
            Some(build.path().join("secrets").as_path())
        );
        assert_eq!(fs::read_to_string(&written).unwrap(), path);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&build.path().join("secrets")), 0o700);
        assert_eq!(mode(&written), 0o600);
        assert_eq!(
            env.file(build.path()).unwrap(),
            written,
            "written again in place"
        );
        for (bad, why) in [
            (
                "id=x,env=IMG_NO_SUCH_VARIABLE_EVER",
                "the environment has no IMG_NO_SUCH_VARIABLE_EVER",
            ),
            (
                "id=x,src=/nonexistent/token",
                "/nonexistent/token is not a file",
            ),
            ("src=/etc/passwd", "it needs an id"),
        ] {
            let error = Secret::parse(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn mounts_read_as_buildkit_reads_them() {
        let cache =
            parse("type=cache,target=/root/.cache,id=pip,mode=0700,uid=1000,sharing=locked")
                .unwrap();
        assert_eq!(cache.kind, Kind::Cache);
        assert_eq!(
            (
                cache.target.as_str(),
                cache.id.as_deref(),
                cache.mode,
                cache.uid
            ),
            ("/root/.cache", Some("pip"), Some(0o700), Some(1000))
        );
        let bind = parse("target=src,source=app,from=builder,rw").unwrap();
        assert_eq!(bind.kind, Kind::Bind);
        assert_eq!((bind.target.as_str(), bind.rw), ("/src", true));
        assert_eq!(bind.from.as_deref(), Some("builder"));
        let secret = parse("type=secret,id=token").unwrap();
        assert_eq!(secret.target, "/run/secrets/token");
        let env = parse("type=secret,id=token,env=TOKEN").unwrap();
        assert_eq!(
            (env.target.as_str(), env.env.as_deref()),
            ("", Some("TOKEN"))
        );
        assert!(parse("type=ssh").is_err());
        assert!(parse("type=cache").is_err(), "no target");
        assert!(parse("type=cache,target=/x,mode=rwx").is_err());
        assert!(parse("type=bind,target=/x,bogus=1").is_err());
    }

    #[test]
    fn only_the_mount_points_the_runtime_made_go() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, lower) = (dir.path().join("upper"), dir.path().join("lower"));
        fs::create_dir_all(lower.join("root")).unwrap();
        // The runtime made root/.cache/pip (root existed), and a step wrote
        // root/kept; run/secrets/token is an empty file it made.
        fs::create_dir_all(upper.join("root/.cache/pip")).unwrap();
        fs::write(upper.join("root/kept"), b"x").unwrap();
        fs::create_dir_all(upper.join("run/secrets")).unwrap();
        fs::write(upper.join("run/secrets/token"), b"").unwrap();
        let lowers = vec![lower];
        remove_mount_points(
            &upper,
            &lowers,
            &["/root/.cache/pip".into(), "/run/secrets/token".into()],
        );
        assert!(!upper.join("root/.cache").exists());
        assert!(upper.join("root/kept").exists());
        assert!(!upper.join("run").exists());
    }
}

//! What `--cache-to` and `--cache-from` say, parsed once: BuildKit's
//! comma-separated `key=value` lists (`type=registry,ref=…,mode=max`), or,
//! for `--cache-from` as Docker's classic builder takes it, a bare image
//! reference (a registry cache or an image with an inline cache).
//!
//! Unknown types and keys are refused, so that a typo does not silently
//! turn into a build without cache.

use std::path::PathBuf;

use img_core::error::{Error, Result};
use img_core::reference::Reference;
use img_layers::compression::Compression;

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A registry cache manifest under a tag (`type=registry,ref=…`).
    Registry(Reference),
    /// An OCI image layout directory, the cache named by `tag` in its
    /// index.json (`type=local,dest=…` / `src=…`).
    Local {
        /// The directory.
        dir: PathBuf,
        /// The ref-name annotation of the cache's entry (`latest` unless
        /// `tag=` says).
        tag: String,
    },
    /// The image's own config (`type=inline`; export only: an inline cache
    /// is imported by naming the pushed image as a registry cache).
    Inline,
}

/// Which steps an export keeps (`mode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The steps of the final image, with their layers; the other stages'
    /// steps only as keys (`mode=min`, the default).
    #[default]
    Min,
    /// Every step of every stage built, with its layers (`mode=max`).
    Max,
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Where to.
    pub location: Location,
    /// Which steps.
    pub mode: Mode,
    /// The compression of the exported layers (`compression=`): layers
    /// compressed otherwise are converted; `None` keeps each as stored.
    pub compression: Option<Compression>,
    /// A failed export is a warning, not an error (`ignore-error=true`).
    pub ignore_error: bool,
    /// Also export the contents of the build's `RUN --mount=type=cache`
    /// directories (`cache-mounts=true`).
    pub cache_mounts: bool,
}

/// One `--cache-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Where from (never [`Location::Inline`]).
    pub location: Location,
    /// Also fill empty `RUN --mount=type=cache` directories from the
    /// cache (`cache-mounts=true`).
    pub cache_mounts: bool,
}

impl Location {
    /// How the cache is named in messages: its reference, or `local:DIR:TAG`.
    pub fn label(&self) -> String {
        match self {
            Location::Registry(r) => r.familiar(),
            Location::Local { dir, tag } => format!("local:{}:{tag}", dir.display()),
            Location::Inline => "the image (inline)".to_string(),
        }
    }
}

/// The pairs of `text`, each key once; a bare word without `=` is `ref`
/// when it is the only item (Docker's `--cache-from IMAGE`).
fn pairs(flag: &str, text: &str) -> Result<Vec<(String, String)>> {
    if !text.contains('=') && !text.contains(',') && !text.trim().is_empty() {
        return Ok(vec![
            ("type".into(), "registry".into()),
            ("ref".into(), text.trim().into()),
        ]);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for item in text.split(',').filter(|i| !i.trim().is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(Error::invalid(format!(
                "{flag} {text:?}: {item:?} is not KEY=VALUE"
            )));
        };
        let key = key.trim().to_ascii_lowercase();
        if out.iter().any(|(k, _)| *k == key) {
            return Err(Error::invalid(format!(
                "{flag} {text:?}: {key} is given twice"
            )));
        }
        out.push((key, value.trim().to_string()));
    }
    if !out.iter().any(|(k, _)| k == "type") {
        // BuildKit's default type.
        out.insert(0, ("type".into(), "registry".into()));
    }
    Ok(out)
}

fn boolean(flag: &str, key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!(
            "{flag}: {key}={value:?} is not true or false"
        ))),
    }
}

/// The values of `keys` in `pairs`, refusing any other key.
fn take<'p>(
    flag: &str,
    kind: &str,
    pairs: &'p [(String, String)],
    keys: &[&str],
) -> Result<impl Fn(&str) -> Option<&'p str>> {
    for (key, _) in pairs {
        if key != "type" && !keys.contains(&key.as_str()) {
            return Err(Error::invalid(format!(
                "{flag}: type={kind} does not take {key}= (it takes {})",
                keys.join("=, ") + "="
            )));
        }
    }
    Ok(move |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    })
}

fn kind_of<'p>(flag: &str, pairs: &'p [(String, String)]) -> Result<&'p str> {
    let kind = pairs
        .iter()
        .find(|(k, _)| k == "type")
        .map_or("registry", |(_, v)| v.as_str());
    match kind {
        "registry" | "local" | "inline" => Ok(kind),
        other => Err(Error::invalid(format!(
            "{flag}: type={other} is not supported (img reads and writes type=registry, type=local and type=inline)"
        ))),
    }
}

fn registry_ref(flag: &str, value: Option<&str>) -> Result<Location> {
    let text = value.filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::invalid(format!(
            "{flag}: type=registry needs ref=REGISTRY/REPOSITORY[:TAG]"
        ))
    })?;
    let reference = Reference::parse(text).map_err(|e| e.context(format!("{flag}: ref={text}")))?;
    let reference = match (reference.tag(), reference.digest()) {
        (None, None) => reference.with_tag(img_core::reference::DEFAULT_TAG)?,
        _ => reference,
    };
    Ok(Location::Registry(reference))
}

fn local_dir(flag: &str, key: &str, value: Option<&str>, tag: Option<&str>) -> Result<Location> {
    let dir = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid(format!("{flag}: type=local needs {key}=DIR")))?;
    let tag = tag.filter(|t| !t.is_empty()).unwrap_or("latest");
    Ok(Location::Local {
        dir: PathBuf::from(dir),
        tag: tag.to_string(),
    })
}

fn compression(flag: &str, value: Option<&str>) -> Result<Option<Compression>> {
    match value {
        None => Ok(None),
        Some("gzip") => Ok(Some(Compression::Gzip)),
        Some("zstd") => Ok(Some(Compression::Zstd)),
        Some("uncompressed") => Ok(Some(Compression::None)),
        Some(other) => Err(Error::invalid(format!(
            "{flag}: compression={other} is not gzip, zstd or uncompressed"
        ))),
    }
}

impl Export {
    /// Parse one `--cache-to` value.
    pub fn parse(text: &str) -> Result<Export> {
        const FLAG: &str = "--cache-to";
        let pairs = pairs(FLAG, text)?;
        let kind = kind_of(FLAG, &pairs)?;
        let common = [
            "mode",
            "compression",
            "ignore-error",
            "cache-mounts",
            "oci-mediatypes",
            "image-manifest",
            "force-compression",
            "compression-level",
        ];
        let keys: Vec<&str> = match kind {
            "registry" => [&["ref"][..], &common].concat(),
            "local" => [&["dest", "tag"][..], &common].concat(),
            _ => vec!["mode", "ignore-error"],
        };
        let get = take(FLAG, kind, &pairs, &keys)?;
        let location = match kind {
            "registry" => registry_ref(FLAG, get("ref"))?,
            "local" => local_dir(FLAG, "dest", get("dest"), get("tag"))?,
            _ => Location::Inline,
        };
        let mode = match get("mode") {
            None | Some("min") => Mode::Min,
            Some("max") if location == Location::Inline => {
                return Err(Error::invalid(format!(
                    "{FLAG}: type=inline holds the final image's steps only (mode=min); use type=registry for mode=max"
                )))
            }
            Some("max") => Mode::Max,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "{FLAG}: mode={other} is not min or max"
                )))
            }
        };
        for key in ["oci-mediatypes", "image-manifest"] {
            if let Some(value) = get(key) {
                if !boolean(FLAG, key, value)? {
                    return Err(Error::invalid(format!(
                        "{FLAG}: img writes caches as an OCI image manifest only ({key}=false is not supported)"
                    )));
                }
            }
        }
        if let Some(value) = get("force-compression") {
            boolean(FLAG, "force-compression", value)?;
        }
        Ok(Export {
            location,
            mode,
            compression: compression(FLAG, get("compression"))?,
            ignore_error: get("ignore-error")
                .map(|v| boolean(FLAG, "ignore-error", v))
                .transpose()?
                .unwrap_or(false),
            cache_mounts: get("cache-mounts")
                .map(|v| boolean(FLAG, "cache-mounts", v))
                .transpose()?
                .unwrap_or(false),
        })
    }
}

impl Import {
    /// Parse one `--cache-from` value.
    pub fn parse(text: &str) -> Result<Import> {
        const FLAG: &str = "--cache-from";
        let pairs = pairs(FLAG, text)?;
        let kind = kind_of(FLAG, &pairs)?;
        if kind == "inline" {
            return Err(Error::invalid(format!(
                "{FLAG}: an inline cache is read from its image: --cache-from type=registry,ref=IMAGE"
            )));
        }
        let keys: &[&str] = match kind {
            "registry" => &["ref", "cache-mounts"],
            _ => &["src", "tag", "digest", "cache-mounts"],
        };
        let get = take(FLAG, kind, &pairs, keys)?;
        let location = match kind {
            "registry" => registry_ref(FLAG, get("ref"))?,
            _ => {
                if get("digest").is_some() {
                    return Err(Error::invalid(format!(
                        "{FLAG}: type=local finds the cache by tag= (digest= is not supported)"
                    )));
                }
                local_dir(FLAG, "src", get("src"), get("tag"))?
            }
        };
        Ok(Import {
            location,
            cache_mounts: get("cache-mounts")
                .map(|v| boolean(FLAG, "cache-mounts", v))
                .transpose()?
                .unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports() {
        let e =
            Export::parse("type=registry,ref=localhost:5000/app:cache,mode=max,compression=zstd")
                .unwrap();
        assert_eq!(
            e.location,
            Location::Registry(Reference::parse("localhost:5000/app:cache").unwrap())
        );
        assert_eq!(e.mode, Mode::Max);
        assert_eq!(e.compression, Some(Compression::Zstd));
        let e = Export::parse("ref=localhost:5000/app").unwrap();
        assert_eq!(e.mode, Mode::Min);
        assert_eq!(e.location.label(), "localhost:5000/app:latest");
        let e = Export::parse("type=local,dest=/tmp/c").unwrap();
        assert_eq!(
            e.location,
            Location::Local {
                dir: "/tmp/c".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            Export::parse("type=inline").unwrap().location,
            Location::Inline
        );
        for bad in [
            "type=gha",
            "type=registry",
            "type=registry,ref=x,mode=all",
            "type=registry,ref=x,compression=lz4",
            "type=registry,ref=x,dest=y",
            "type=registry,ref=x,ref=y",
            "type=local",
            "type=inline,mode=max",
            "type=registry,ref=x,image-manifest=false",
            "type=registry,ref=NOT A REF",
            "type=registry,junk",
        ] {
            assert!(Export::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn imports() {
        let i = Import::parse("localhost:5000/app:1").unwrap();
        assert_eq!(
            i.location,
            Location::Registry(Reference::parse("localhost:5000/app:1").unwrap())
        );
        let i = Import::parse("type=local,src=dir,tag=v2,cache-mounts=true").unwrap();
        assert!(i.cache_mounts);
        assert_eq!(
            i.location,
            Location::Local {
                dir: "dir".into(),
                tag: "v2".into()
            }
        );
        for bad in [
            "type=inline",
            "type=local,dest=x",
            "type=s3,ref=x",
            "",
            "type=local,src=x,digest=sha256:00",
        ] {
            assert!(Import::parse(bad).is_err(), "{bad}");
        }
    }
}

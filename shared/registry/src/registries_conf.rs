//! `registries.conf`: how the containers tools (podman, buildah, skopeo) are
//! told where registries are — containers-registries.conf(5). img reads the
//! same files in the same order as containers/image, so one configuration
//! serves every tool on the host:
//!
//! * the main file: `$CONTAINERS_REGISTRIES_CONF` (or the older
//!   `$REGISTRIES_CONFIG_PATH`), which must then exist; else
//!   `~/.config/containers/registries.conf` when it exists; else
//!   `/etc/containers/registries.conf` when it exists;
//! * then the drop-ins, `*.conf` in `/etc/containers/registries.conf.d` and
//!   then in `~/.config/containers/registries.conf.d`, each in name order
//!   (only the user's directory when the user's main file was read). A
//!   drop-in's `[[registry]]` table replaces the one with the same prefix;
//!   its `unqualified-search-registries`, when set, replaces the list.
//!
//! Version 2 is `[[registry]]` tables (`prefix`, `location`, `insecure`,
//! `blocked`, `mirror-by-digest-only`, `[[registry.mirror]]` with
//! `location`, `insecure`, `pull-from-mirror`) and
//! `unqualified-search-registries`; the older version 1 lists
//! (`[registries.search|insecure|block]`) are read too, in a main file only.
//! Keys img has no use for (`[aliases]`, `short-name-mode`,
//! `credential-helpers`, …) are accepted and ignored, as containers/image
//! ignores keys it does not know. A file that does not parse, or that says
//! something impossible, is refused with its path, the line and what is
//! wrong. What the tables mean for a pull or a push is `mirrors.rs`.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use img_core::error::{Error, IoContext, Result};
use img_core::reference::is_registry_host;

/// Which pulls a mirror serves (`pull-from-mirror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFrom {
    /// Pulls by tag and by digest (`all`, the default).
    #[default]
    All,
    /// Pulls by digest only (`digest-only`).
    DigestOnly,
    /// Pulls by tag only (`tag-only`).
    TagOnly,
}

/// A mirror of a registry table: another place that holds its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port][/namespace]` that the table's prefix maps to there.
    pub location: String,
    /// Whether plain HTTP and unverified TLS are allowed there.
    pub insecure: bool,
    /// Which pulls it serves.
    pub pull_from: PullFrom,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTable {
    /// The names it applies to: `host[:port][/namespace…][:tag|@digest]`,
    /// or `*.domain` for every host below a domain.
    pub prefix: String,
    /// Where those names really are; empty (wildcard prefixes only) for
    /// where they say.
    pub location: String,
    /// Whether plain HTTP and unverified TLS are allowed at the location.
    pub insecure: bool,
    /// Whether pulling and pushing these names is refused.
    pub blocked: bool,
    /// Whether the mirrors serve pulls by digest only (the older,
    /// table-wide form of `pull-from-mirror = "digest-only"`).
    pub mirror_by_digest_only: bool,
    /// The mirrors, in the order they are tried.
    pub mirrors: Vec<Mirror>,
    /// The file the table came from, for messages.
    pub file: PathBuf,
}

/// The registries configuration: every file read, merged.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    /// One table per prefix, sorted by prefix.
    pub(super) tables: Vec<RegistryTable>,
    /// `unqualified-search-registries`: hosts `img-search` asks when a term
    /// names none.
    pub(super) unqualified_search: Vec<String>,
    /// Docker Hub mirrors given for one run (`--registry-mirror`), tried
    /// before the configured ones.
    pub(super) hub_mirrors: Vec<Mirror>,
}

/// What one file says, before merging.
#[derive(Debug, Default)]
struct FileConf {
    tables: Vec<RegistryTable>,
    unqualified_search: Option<Vec<String>>,
}

/// Where the configuration is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Places {
    main: PathBuf,
    /// Whether the main file must exist (named by the environment).
    main_required: bool,
    drop_in_dirs: Vec<PathBuf>,
}

const SYSTEM_FILE: &str = "/etc/containers/registries.conf";
const SYSTEM_DROP_INS: &str = "/etc/containers/registries.conf.d";
const USER_FILE: &str = ".config/containers/registries.conf";
const USER_DROP_INS: &str = ".config/containers/registries.conf.d";

impl Places {
    /// containers/image's places, for `home` and the environment's override.
    fn standard(env_file: Option<PathBuf>, home: Option<&Path>) -> Places {
        let user_file = home.map(|h| h.join(USER_FILE));
        let user_dir = home.map(|h| h.join(USER_DROP_INS));
        if let Some(main) = env_file {
            return Places {
                main,
                main_required: true,
                drop_in_dirs: [Some(PathBuf::from(SYSTEM_DROP_INS)), user_dir]
                    .into_iter()
                    .flatten()
                    .collect(),
            };
        }
        match user_file.filter(|f| f.exists()) {
            Some(main) => Places {
                main,
                main_required: false,
                drop_in_dirs: user_dir.into_iter().collect(),
            },
            None => Places {
                main: PathBuf::from(SYSTEM_FILE),
                main_required: false,
                drop_in_dirs: [Some(PathBuf::from(SYSTEM_DROP_INS)), user_dir]
                    .into_iter()
                    .flatten()
                    .collect(),
            },
        }
    }
}

impl RegistriesConf {
    /// Read the configuration from its standard places (see the module docs).
    pub fn load() -> Result<RegistriesConf> {
        let env_file = ["CONTAINERS_REGISTRIES_CONF", "REGISTRIES_CONFIG_PATH"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
            .map(PathBuf::from);
        let home = std::env::var_os("HOME").map(PathBuf::from);
        RegistriesConf::load_from(&Places::standard(env_file, home.as_deref()))
    }

    fn load_from(places: &Places) -> Result<RegistriesConf> {
        let mut conf = RegistriesConf::default();
        match std::fs::read_to_string(&places.main) {
            Ok(text) => conf.merge(parse(&text, &places.main, false)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !places.main_required => {}
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "reading the registries configuration {}",
                        places.main.display()
                    ),
                    e,
                ))
            }
        }
        for dir in &places.drop_in_dirs {
            for path in drop_ins(dir)? {
                let text = std::fs::read_to_string(&path)
                    .io_context(|| format!("reading {}", path.display()))?;
                conf.merge(parse(&text, &path, true)?);
            }
        }
        Ok(conf)
    }

    /// The configuration `text` (read from `path`) says, alone.
    pub fn parse(text: &str, path: &Path) -> Result<RegistriesConf> {
        let mut conf = RegistriesConf::default();
        conf.merge(parse(text, path, false)?);
        Ok(conf)
    }

    /// Add what a later file says: its tables replace those with the same
    /// prefix, its search list (when it has one) replaces the list.
    fn merge(&mut self, file: FileConf) {
        for table in file.tables {
            match self.tables.iter_mut().find(|t| t.prefix == table.prefix) {
                Some(old) => *old = table,
                None => self.tables.push(table),
            }
        }
        self.tables.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        if let Some(list) = file.unqualified_search {
            self.unqualified_search = list;
        }
    }

    /// Every table, sorted by prefix.
    pub fn tables(&self) -> &[RegistryTable] {
        &self.tables
    }

    /// The registries to search when a search term names none.
    pub fn unqualified_search_registries(&self) -> &[String] {
        &self.unqualified_search
    }
}

/// The drop-in files of `dir`, in name order; none when it does not exist.
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.io_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "conf") && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    #[serde(default)]
    registry: Vec<Spanned<RawTable>>,
    unqualified_search_registries: Option<Vec<Spanned<String>>>,
    registries: Option<Spanned<RawV1>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawTable {
    prefix: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    pull_from_mirror: Option<Spanned<String>>,
    #[serde(default)]
    mirror: Vec<Spanned<RawMirror>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    location: Option<Spanned<String>>,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawV1 {
    search: Option<RawList>,
    insecure: Option<RawList>,
    block: Option<RawList>,
}

#[derive(Deserialize)]
struct RawList {
    registries: Option<Vec<String>>,
}

/// Where in a file something is, for its errors.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// `PATH:LINE: what`, the line of byte `offset`.
    fn error(&self, offset: usize, what: impl Display) -> Error {
        let line = self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1;
        Error::invalid(format!("{}:{line}: {what}", self.path.display()))
    }

    fn error_at<T>(&self, spanned: &Spanned<T>, what: impl Display) -> Error {
        self.error(spanned.span().start, what)
    }
}

/// Parse one file (`drop_in`: version 2 only).
fn parse(text: &str, path: &Path, drop_in: bool) -> Result<FileConf> {
    let source = Source { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => source.error(span.start, e.message()),
        None => Error::invalid(format!("{}: {}", path.display(), e.message())),
    })?;
    let v1 = raw.registries.as_ref().filter(|v1| {
        let v = v1.get_ref();
        [&v.search, &v.insecure, &v.block]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| l.registries.is_some()))
    });
    if let Some(v1) = v1 {
        if drop_in {
            return Err(source.error_at(
                v1,
                "a drop-in must use version 2 ([[registry]] tables), not the [registries.*] lists",
            ));
        }
        if !raw.registry.is_empty() || raw.unqualified_search_registries.is_some() {
            return Err(source.error_at(
                v1,
                "mixing the version 1 lists ([registries.*]) with version 2 ([[registry]], unqualified-search-registries) is not supported",
            ));
        }
        return from_v1(v1.get_ref(), &source);
    }
    let mut tables: Vec<RegistryTable> = Vec::new();
    for spanned in &raw.registry {
        let table = table(spanned, &source)?;
        check_conflicts(&tables, &table).map_err(|what| source.error_at(spanned, what))?;
        // The first table of a prefix counts, as containers/image keeps it.
        if !tables.iter().any(|t| t.prefix == table.prefix) {
            tables.push(table);
        }
    }
    tables.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let unqualified_search = match &raw.unqualified_search_registries {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|entry| {
                    let host = entry.get_ref().trim_end_matches('/');
                    if is_registry_host(host) {
                        Ok(host.to_string())
                    } else {
                        Err(source.error_at(
                            entry,
                            format!("unqualified-search-registries entry {host:?} is not a registry host[:port]"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    Ok(FileConf {
        tables,
        unqualified_search,
    })
}

/// One `[[registry]]` table, checked.
fn table(spanned: &Spanned<RawTable>, source: &Source<'_>) -> Result<RegistryTable> {
    let raw = spanned.get_ref();
    let location = match &raw.location {
        Some(l) => checked_location(l, source)?,
        None => String::new(),
    };
    let prefix = match &raw.prefix {
        Some(p) => {
            let prefix = p.get_ref().trim_end_matches('/').to_string();
            if prefix.is_empty() {
                return Err(source.error_at(p, "prefix is empty"));
            }
            if prefix.starts_with("http://") || prefix.starts_with("https://") {
                return Err(source.error_at(
                    p,
                    format!("prefix {prefix:?}: URI schemes are not supported (write host[:port][/namespace])"),
                ));
            }
            if let Some(domain) = prefix.strip_prefix("*.") {
                if domain.contains(['/', '@', ':']) || domain.is_empty() {
                    return Err(source.error_at(
                        p,
                        format!("wildcard prefix {prefix:?} must be *.domain, with no port, path, tag or digest"),
                    ));
                }
            } else if location.is_empty() {
                return Err(source.error_at(
                    spanned,
                    format!("[[registry]] prefix {prefix:?} has no location (only a *.domain prefix may leave it out)"),
                ));
            }
            prefix
        }
        None if location.is_empty() => {
            return Err(source.error_at(spanned, "[[registry]] has neither prefix nor location"))
        }
        None => location.clone(),
    };
    if let Some(p) = &raw.pull_from_mirror {
        return Err(source.error_at(
            p,
            format!("pull-from-mirror belongs in a [[registry.mirror]] table, not in [[registry]] {prefix:?}"),
        ));
    }
    let mut mirrors = Vec::new();
    for m in &raw.mirror {
        let mirror = m.get_ref();
        let Some(at) = &mirror.location else {
            return Err(source.error_at(m, "[[registry.mirror]] has no location"));
        };
        let pull_from = match &mirror.pull_from_mirror {
            None => PullFrom::All,
            Some(p) if raw.mirror_by_digest_only => {
                return Err(source.error_at(
                    p,
                    format!("pull-from-mirror cannot be set when [[registry]] {prefix:?} sets mirror-by-digest-only"),
                ))
            }
            Some(p) => match p.get_ref().as_str() {
                "" | "all" => PullFrom::All,
                "digest-only" => PullFrom::DigestOnly,
                "tag-only" => PullFrom::TagOnly,
                other => {
                    return Err(source.error_at(
                        p,
                        format!("pull-from-mirror {other:?} is not one of all, digest-only, tag-only"),
                    ))
                }
            },
        };
        mirrors.push(Mirror {
            location: checked_location(at, source)?,
            insecure: mirror.insecure,
            pull_from,
        });
    }
    Ok(RegistryTable {
        prefix,
        location,
        insecure: raw.insecure,
        blocked: raw.blocked,
        mirror_by_digest_only: raw.mirror_by_digest_only,
        mirrors,
        file: source.path.to_path_buf(),
    })
}

/// A `location`: `host[:port][/namespace…]`, without a URI scheme.
fn checked_location(spanned: &Spanned<String>, source: &Source<'_>) -> Result<String> {
    let text = spanned.get_ref().trim_end_matches('/');
    let why = if text.is_empty() {
        Some("it is empty".to_string())
    } else if text.starts_with("http://") || text.starts_with("https://") {
        Some("URI schemes are not supported (write host[:port][/namespace])".to_string())
    } else {
        check_location(text).err()
    };
    match why {
        Some(why) => Err(source.error_at(spanned, format!("location {text:?}: {why}"))),
        None => Ok(text.to_string()),
    }
}

/// Whether `location` starts with a registry host and continues with a
/// repository path, as a rewritten reference must.
pub(super) fn check_location(location: &str) -> std::result::Result<(), String> {
    let (host, path) = location.split_once('/').unwrap_or((location, ""));
    let names_a_host = host.contains(['.', ':']) || host == "localhost";
    if !names_a_host || !is_registry_host(host) {
        return Err(format!(
            "{host:?} is not a registry host (a name with a dot or a port, or localhost)"
        ));
    }
    if !path.is_empty() && img_core::reference::Reference::parse(&format!("{location}/x")).is_err()
    {
        return Err(format!(
            "{path:?} is not a repository path (lowercase parts separated by /)"
        ));
    }
    Ok(())
}

/// containers/image refuses two tables for one location that disagree on
/// `insecure` or `blocked`.
fn check_conflicts(
    earlier: &[RegistryTable],
    table: &RegistryTable,
) -> std::result::Result<(), String> {
    let key = |t: &RegistryTable| {
        if t.location.is_empty() {
            t.prefix.clone()
        } else {
            t.location.clone()
        }
    };
    for other in earlier.iter().filter(|o| key(o) == key(table)) {
        for (setting, a, b) in [
            ("insecure", other.insecure, table.insecure),
            ("blocked", other.blocked, table.blocked),
        ] {
            if a != b {
                return Err(format!(
                    "registry {:?} is given twice with different {setting} settings",
                    key(table)
                ));
            }
        }
    }
    Ok(())
}

/// The version 1 lists as version 2 tables.
fn from_v1(v1: &RawV1, source: &Source<'_>) -> Result<FileConf> {
    let list = |l: &Option<RawList>| {
        l.as_ref()
            .and_then(|l| l.registries.clone())
            .unwrap_or_default()
    };
    let mut tables: Vec<RegistryTable> = Vec::new();
    let mut table_for = |host: &str| -> Result<usize> {
        let host = host.trim_end_matches('/');
        if let Err(why) = check_location(host) {
            return Err(Error::invalid(format!(
                "{}: [registries.*] entry {host:?}: {why}",
                source.path.display()
            )));
        }
        if let Some(i) = tables.iter().position(|t| t.location == host) {
            return Ok(i);
        }
        tables.push(RegistryTable {
            prefix: host.to_string(),
            location: host.to_string(),
            insecure: false,
            blocked: false,
            mirror_by_digest_only: false,
            mirrors: Vec::new(),
            file: source.path.to_path_buf(),
        });
        Ok(tables.len() - 1)
    };
    let mut blocked = Vec::new();
    for host in list(&v1.block) {
        blocked.push(table_for(&host)?);
    }
    let mut insecure = Vec::new();
    for host in list(&v1.insecure) {
        insecure.push(table_for(&host)?);
    }
    for i in blocked {
        tables[i].blocked = true;
    }
    for i in insecure {
        tables[i].insecure = true;
    }
    tables.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let search = v1
        .search
        .as_ref()
        .and_then(|l| l.registries.clone())
        .map(|l| {
            l.iter()
                .map(|h| h.trim_end_matches('/').to_string())
                .collect()
        });
    Ok(FileConf {
        tables,
        unqualified_search: search,
    })
}

#[cfg(test)]
#[path = "registries_conf_tests.rs"]
mod tests;

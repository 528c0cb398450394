//! `img-ls`: the images in the store as `docker images` lists them. One
//! image is one entry digest (manifest or index) with all the names pointing
//! at it; it yields one row per repository and tag, `<none>` where it has no
//! tag, and images come newest first. Filters follow Docker's: `dangling`,
//! `reference` (Go's `path.Match` on the familiar name, with or without tag),
//! `before`/`since` (creation time of another image) and `label`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use oci_spec::image::Descriptor;

use img_core::digest::Digest;
use img_core::error::{Error, Result, ResultExt};
use img_core::format;
use img_core::image::Target;
use img_core::pattern::Pattern;
use img_core::record;
use img_core::reference::Reference;
use img_core::template::{self, RowFormat};
use img_store::Store;

/// One image in the store with its names.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The manifest or index with its config.
    pub target: Target,
    /// The names pointing at it that passed the filters (none: dangling).
    pub names: Vec<Reference>,
}

impl ImageSummary {
    /// The image ID (config digest, index digest for a multi-platform image).
    pub fn id(&self) -> &Digest {
        self.target.id()
    }

    /// The labels of the image's config (the host platform's, for an index).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let Ok(image) = self.target.host_image() else {
            return BTreeMap::new();
        };
        image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default()
    }

    /// One record per name (one unnamed record for a dangling image).
    pub fn records(&self) -> Vec<Descriptor> {
        if self.names.is_empty() {
            return vec![record::for_target(&self.target, None)];
        }
        self.names
            .iter()
            .map(|n| record::for_target(&self.target, Some(n)))
            .collect()
    }

    /// The table rows `docker images` prints for this image: repository,
    /// tag and digest, in Docker's grouping (tags of a repository first,
    /// digest-only names after).
    pub fn rows(&self, with_digests: bool) -> Vec<Row> {
        if self.names.is_empty() {
            return vec![self.row("<none>", "<none>", "<none>")];
        }
        let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut digests: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in &self.names {
            let repo = name.familiar_name();
            if let Some(tag) = name.tag() {
                tags.entry(repo.clone())
                    .or_default()
                    .insert(tag.to_string());
            }
            let digest = name.digest().unwrap_or(self.target.digest()).to_string();
            digests.entry(repo).or_default().insert(digest);
        }
        let mut rows = Vec::new();
        for (repo, repo_tags) in &tags {
            let repo_digests = digests.remove(repo).unwrap_or_default();
            for tag in repo_tags {
                if !with_digests || repo_digests.is_empty() {
                    rows.push(self.row(repo, tag, "<none>"));
                } else {
                    for digest in &repo_digests {
                        rows.push(self.row(repo, tag, digest));
                    }
                }
            }
        }
        for (repo, repo_digests) in &digests {
            if with_digests {
                for digest in repo_digests {
                    rows.push(self.row(repo, "<none>", digest));
                }
            } else {
                rows.push(self.row(repo, "<none>", ""));
            }
        }
        rows
    }

    fn row(&self, repository: &str, tag: &str, digest: &str) -> Row {
        Row {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: digest.to_string(),
            id: self.id().clone(),
            created: self.target.created(),
            size: self.target.content_size(),
        }
    }
}

/// One row of the `docker images` table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Familiar repository name, or `<none>`.
    pub repository: String,
    /// Tag, or `<none>`.
    pub tag: String,
    /// Manifest digest for `--digests`, or `<none>`.
    pub digest: String,
    /// The image ID.
    pub id: Digest,
    /// Creation time from the config.
    pub created: Option<DateTime<Utc>>,
    /// Bytes the image's blobs occupy in the store.
    pub size: u64,
}

/// Docker's image filters, parsed from `--filter KEY=VALUE` arguments.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    dangling: Option<bool>,
    references: Vec<Pattern>,
    before: Vec<String>,
    since: Vec<String>,
    labels: Vec<(String, Option<String>)>,
}

impl Filters {
    /// Parse `--filter` values; an unknown key or malformed value is bad input.
    pub fn parse(filters: &[String]) -> Result<Filters> {
        let mut parsed = Filters::default();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(Error::invalid(format!(
                    "bad format of filter {filter:?} (expected name=value)"
                )));
            };
            match key.to_ascii_lowercase().as_str() {
                "dangling" => {
                    parsed.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(Error::invalid(format!(
                                "invalid filter 'dangling={value}': use dangling=true or dangling=false"
                            )))
                        }
                    })
                }
                "reference" => parsed.add_reference(value)?,
                "before" => parsed.before.push(value.to_string()),
                "since" => parsed.since.push(value.to_string()),
                "label" => parsed.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                }),
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter '{key}' (img-ls knows dangling, reference, before, since, label)"
                    )))
                }
            }
        }
        Ok(parsed)
    }

    /// Add a reference pattern (what `img-ls REPOSITORY[:TAG]` does).
    pub fn add_reference(&mut self, pattern: &str) -> Result<()> {
        let compiled = Pattern::new(pattern)
            .map_err(|e| e.context(format!("invalid reference pattern {pattern:?}")))?;
        self.references.push(compiled);
        Ok(())
    }

    /// Whether `name` matches the reference patterns, as Docker's
    /// `FamiliarMatch`: the pattern against `name:tag`, then against the name
    /// alone; the full normalized form is accepted too.
    fn reference_matches(&self, name: &Reference) -> bool {
        self.references.iter().any(|p| {
            [
                name.familiar(),
                name.familiar_name(),
                name.to_string(),
                name.name(),
            ]
            .iter()
            .any(|candidate| p.matches(candidate))
        })
    }
}

/// Every image in the store that passes `filters`, newest first.
pub fn list(store: &Store, filters: &Filters) -> Result<Vec<ImageSummary>> {
    let index = store.index()?;
    let mut by_digest: BTreeMap<String, (Descriptor, Vec<Reference>)> = BTreeMap::new();
    for entry in index.entries() {
        let slot = by_digest
            .entry(entry.digest().to_string())
            .or_insert_with(|| (entry.descriptor.clone(), Vec::new()));
        if let Some(name) = entry.name {
            if !slot.1.contains(&name) {
                slot.1.push(name);
            }
        }
    }
    let before = created_bound(store, &filters.before, "before")?;
    let since = created_bound(store, &filters.since, "since")?;
    let mut images = Vec::new();
    for (digest, (descriptor, mut names)) in by_digest {
        let target = match store.load_target(&descriptor) {
            Ok(target) => target,
            Err(e) => {
                eprintln!("img-ls: warning: skipping image {digest}: {e}");
                continue;
            }
        };
        if let Some(dangling) = filters.dangling {
            if dangling != names.is_empty() {
                continue;
            }
        }
        if !filters.references.is_empty() {
            names.retain(|n| filters.reference_matches(n));
            if names.is_empty() {
                continue;
            }
        }
        let created = target.created();
        if before.is_some_and(|b| created.is_none_or(|c| c >= b)) {
            continue;
        }
        if since.is_some_and(|s| created.is_none_or(|c| c <= s)) {
            continue;
        }
        names.sort_by_key(|n| n.to_string());
        let summary = ImageSummary { target, names };
        if !filters.labels.is_empty() {
            let labels = summary.labels();
            let all = filters.labels.iter().all(|(k, v)| match v {
                Some(v) => labels.get(k) == Some(v),
                None => labels.contains_key(k),
            });
            if !all {
                continue;
            }
        }
        images.push(summary);
    }
    images.sort_by(|a, b| {
        b.target
            .created()
            .cmp(&a.target.created())
            .then_with(|| first_name(a).cmp(&first_name(b)))
            .then_with(|| a.target.digest().as_ref().cmp(b.target.digest().as_ref()))
    });
    Ok(images)
}

fn first_name(image: &ImageSummary) -> String {
    image
        .names
        .first()
        .map(|n| n.familiar())
        .unwrap_or_else(|| "\u{10ffff}".to_string())
}

/// The creation time of the image a `before=`/`since=` filter names; the
/// tightest bound when the filter is given several times.
fn created_bound(store: &Store, queries: &[String], key: &str) -> Result<Option<DateTime<Utc>>> {
    let mut bound: Option<DateTime<Utc>> = None;
    for query in queries {
        let found = store
            .resolve(query)
            .with_context(|| format!("filter {key}={query}"))?;
        let created = found.target.created().ok_or_else(|| {
            Error::invalid(format!(
                "filter {key}={query}: the image has no creation time"
            ))
        })?;
        bound = Some(match (bound, key) {
            (None, _) => created,
            (Some(b), "before") => b.min(created),
            (Some(b), _) => b.max(created),
        });
    }
    Ok(bound)
}

/// How `img-ls` prints the images.
pub struct View {
    /// Only image IDs (`-q`).
    pub quiet: bool,
    /// Full IDs (`--no-trunc`).
    pub no_trunc: bool,
    /// The DIGEST column (`--digests`).
    pub digests: bool,
    /// `--format`.
    pub format: RowFormat,
}

/// Column titles of the fields a `--format` template may use.
pub const FIELDS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// The `docker images` output for `images`.
pub fn render(images: &[ImageSummary], view: &View, now: DateTime<Utc>) -> Result<String> {
    let rows: Vec<Row> = images.iter().flat_map(|i| i.rows(view.digests)).collect();
    let id = |row: &Row| {
        if view.no_trunc {
            row.id.to_string()
        } else {
            img_core::digest::short(&row.id).to_string()
        }
    };
    if view.quiet {
        return Ok(rows.iter().map(|r| id(r) + "\n").collect());
    }
    let mut table = vec![if view.digests {
        vec!["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    } else {
        vec!["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    }
    .into_iter()
    .map(str::to_string)
    .collect::<Vec<_>>()];
    let mut items = Vec::new();
    for row in &rows {
        let since = format::ago(row.created, now);
        let size = format::human_size(row.size);
        let mut line = vec![row.repository.clone(), row.tag.clone()];
        if view.digests {
            line.push(row.digest.clone());
        }
        line.extend([id(row), since.clone(), size.clone()]);
        table.push(line);
        let fields: BTreeMap<&str, String> = BTreeMap::from([
            ("ID", id(row)),
            ("Repository", row.repository.clone()),
            ("Tag", row.tag.clone()),
            ("Digest", row.digest.clone()),
            ("CreatedSince", since),
            (
                "CreatedAt",
                row.created.map(format::go_time).unwrap_or_default(),
            ),
            ("Size", size.clone()),
            ("Containers", "N/A".into()),
            ("SharedSize", "N/A".into()),
            ("UniqueSize", "N/A".into()),
            ("VirtualSize", size),
        ]);
        items.push(template::data(&fields)?);
    }
    view.format.render(&table, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_and_rejects_unknown() {
        let f = Filters::parse(&[
            "dangling=true".into(),
            "label=a=b".into(),
            "label=c".into(),
            "reference=busy*".into(),
        ])
        .unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(
            f.labels,
            vec![("a".into(), Some("b".into())), ("c".into(), None)]
        );
        for bad in ["nope=1", "dangling=maybe", "novalue", "reference=[x"] {
            let err = Filters::parse(&[bad.into()]).unwrap_err();
            assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn reference_patterns_match_like_docker() {
        let mut f = Filters::default();
        f.add_reference("busybox").unwrap();
        let r = |s: &str| Reference::parse(s).unwrap();
        assert!(f.reference_matches(&r("busybox:latest")));
        assert!(f.reference_matches(&r("busybox:1.36")));
        assert!(!f.reference_matches(&r("mybusybox:latest")));
        let mut f = Filters::default();
        f.add_reference("busybox:1*").unwrap();
        assert!(f.reference_matches(&r("busybox:1.36")));
        assert!(!f.reference_matches(&r("busybox:latest")));
        let mut f = Filters::default();
        f.add_reference("*").unwrap();
        assert!(f.reference_matches(&r("busybox")));
        assert!(!f.reference_matches(&r("user/app")), "* does not cross '/'");
        let mut f = Filters::default();
        f.add_reference("localhost:5000/*").unwrap();
        assert!(f.reference_matches(&r("localhost:5000/app:1")));
    }
}

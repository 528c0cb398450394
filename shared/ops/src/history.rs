//! `img-history`: the steps that made an image, newest first, as `docker
//! history` shows them. Each history entry of the config is a row; entries
//! that made a layer (not `empty_layer`) take the layers in order and show
//! their size. The top row carries the image ID; the rows below show
//! `<missing>`, as Docker does for steps whose intermediate images are not
//! kept locally. A config with fewer history entries than layers gets a row
//! for each layer left over, so that no layer goes unseen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::inspect::repo_tags;
use img_core::digest::Digest;
use img_core::error::Result;
use img_core::format;
use img_core::image::parse_time;
use img_core::platform::Platform;
use img_core::template::{self, RowFormat};
use img_store::{Resolved, Store};

/// One row of `docker history`.
#[derive(Debug, Clone)]
pub struct Step {
    /// The image ID on the top row; `None` (`<missing>`) below it.
    pub id: Option<Digest>,
    /// When the step ran.
    pub created: Option<DateTime<Utc>>,
    /// The command that made the step.
    pub created_by: String,
    /// Bytes of the layer the step made (0 for steps without a layer).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// The image's names, on the top row.
    pub tags: Vec<String>,
}

/// The history of the image `found`, newest step first. For a multi-platform
/// index, `platform` picks the image (default: the host's).
pub fn history(store: &Store, found: &Resolved, platform: Option<&Platform>) -> Result<Vec<Step>> {
    let image = found.target.image_for(platform)?;
    let layers = image.manifest.layers();
    let mut layer_sizes = layers.iter().map(|l| l.size());
    let mut steps = Vec::new();
    for entry in image.config.history().iter().flatten() {
        let size = if entry.empty_layer().unwrap_or(false) {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        steps.push(Step {
            id: None,
            created: entry.created().as_deref().and_then(parse_time),
            created_by: entry.created_by().clone().unwrap_or_default(),
            size,
            comment: entry.comment().clone().unwrap_or_default(),
            tags: Vec::new(),
        });
    }
    for size in layer_sizes {
        steps.push(Step {
            id: None,
            created: image.created(),
            created_by: String::new(),
            size,
            comment: String::new(),
            tags: Vec::new(),
        });
    }
    steps.reverse();
    if let Some(top) = steps.first_mut() {
        top.id = Some(found.target.id().clone());
        top.tags = repo_tags(&store.names_of(found.target.digest())?);
    }
    Ok(steps)
}

/// How `img-history` prints the steps.
pub struct View {
    /// Ages and human sizes (`-H`, the default), else RFC 3339 and bytes.
    pub human: bool,
    /// Full IDs and commands.
    pub no_trunc: bool,
    /// Only IDs.
    pub quiet: bool,
    /// `--format`.
    pub format: RowFormat,
}

/// Column titles of the fields a `--format` template may use.
pub const FIELDS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// How many characters of CREATED BY a table shows before `…`.
const CREATED_BY_WIDTH: usize = 45;

/// The `docker history` output for `steps`.
pub fn render(steps: &[Step], view: &View, now: DateTime<Utc>) -> Result<String> {
    let id = |step: &Step| match &step.id {
        Some(d) if view.no_trunc => d.to_string(),
        Some(d) => img_core::digest::short(d).to_string(),
        None => "<missing>".to_string(),
    };
    if view.quiet {
        return Ok(steps.iter().map(|s| id(s) + "\n").collect());
    }
    let created_at = |step: &Step| {
        step.created
            .map(format::rfc3339_local)
            .unwrap_or_else(|| "N/A".into())
    };
    let header = if view.human { "CREATED" } else { "CREATED AT" };
    let mut table = vec![["IMAGE", header, "CREATED BY", "SIZE", "COMMENT"]
        .map(str::to_string)
        .to_vec()];
    let mut items = Vec::new();
    for step in steps {
        let since = if view.human {
            format::ago(step.created, now)
        } else {
            created_at(step)
        };
        let size = if view.human {
            format::human_size(step.size)
        } else {
            step.size.to_string()
        };
        let created_by = step.created_by.replace('\t', " ");
        let created_by = if view.no_trunc {
            created_by
        } else {
            ellipsis(&created_by, CREATED_BY_WIDTH)
        };
        table.push(vec![
            id(step),
            since.clone(),
            created_by.clone(),
            size.clone(),
            step.comment.clone(),
        ]);
        let fields: BTreeMap<&str, String> = BTreeMap::from([
            ("ID", id(step)),
            ("CreatedSince", since),
            ("CreatedAt", created_at(step)),
            ("CreatedBy", created_by),
            ("Size", size),
            ("Comment", step.comment.clone()),
        ]);
        items.push(template::data(&fields)?);
    }
    view.format.render(&table, &items)
}

/// Docker's `Ellipsis`: at most `width` characters, the last one `…` when
/// the text was cut.
pub fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_cuts_like_docker() {
        let exact = "x".repeat(45);
        assert_eq!(ellipsis(&exact, 45), exact);
        let cut = ellipsis(&"y".repeat(46), 45);
        assert_eq!(cut.chars().count(), 45);
        assert_eq!(cut, format!("{}…", "y".repeat(44)));
        assert_eq!(ellipsis("ééé", 2), "é…", "characters, not bytes");
    }

    /// The `docker history` table of the seed (002), rendered from the
    /// steps it shows: every column where Docker put it, the 44-character
    /// CREATED BY whole, the empty comment of the last row padded as
    /// Docker's tabwriter pads it; a command one character longer than the
    /// column is cut as Docker cuts it.
    #[test]
    fn the_seeds_docker_history_table() {
        let now = parse_time("2026-11-22T12:00:00Z").unwrap();
        let step = |id: Option<&str>, days: i64, by: &str, size: u64, comment: &str| Step {
            id: id.map(|hex| img_core::digest::parse(&format!("sha256:{hex}")).unwrap()),
            created: Some(now - chrono::Duration::days(days)),
            created_by: by.to_string(),
            size,
            comment: comment.to_string(),
            tags: Vec::new(),
        };
        let id = format!("23b7934c76d7{}", "0".repeat(52));
        let mut steps = vec![
            step(
                Some(&id),
                4,
                "RUN /bin/sh -c mkdir /tmp/testdir # buildkit",
                0,
                "buildkit.dockerfile.v0",
            ),
            step(
                None,
                4,
                "COPY test /tmp/test # buildkit",
                4,
                "buildkit.dockerfile.v0",
            ),
            step(
                None,
                490,
                "BusyBox 1.36.1 (glibc), Debian 12",
                4_261_000,
                "",
            ),
        ];
        let view = View {
            human: true,
            no_trunc: false,
            quiet: false,
            format: RowFormat::Default,
        };
        let seed = "\
IMAGE          CREATED         CREATED BY                                     SIZE      COMMENT
23b7934c76d7   4 days ago      RUN /bin/sh -c mkdir /tmp/testdir # buildkit   0B        buildkit.dockerfile.v0
<missing>      4 days ago      COPY test /tmp/test # buildkit                 4B        buildkit.dockerfile.v0
<missing>      16 months ago   BusyBox 1.36.1 (glibc), Debian 12              4.26MB    
";
        assert_eq!(render(&steps, &view, now).unwrap(), seed);
        steps[0].created_by = "RUN /bin/sh -c mkdir /tmp/testdir # buildkit 1".to_string();
        let table = render(&steps, &view, now).unwrap();
        let row = table.lines().nth(1).unwrap();
        assert!(
            row.contains("   RUN /bin/sh -c mkdir /tmp/testdir # buildkit…   0B  "),
            "{row}"
        );
    }
}

//! img-search: find repositories on a registry (`docker search`).

use std::io::Write;

use clap::{CommandFactory, Parser};

use img_cli as cli;
use img_cli::progress::Stderr;
use img_core::error::Error;
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_core::template::RowFormat;
use img_registry::credentials::is_docker_hub;
use img_registry::search::{self, Filters};
use img_registry::{Client, ClientOptions, RegistryArgs};

/// Find repositories on a registry.
///
/// On Docker Hub (the default) asks Hub's search API, as `docker search`
/// does, and prints current Docker's table: NAME DESCRIPTION STARS OFFICIAL
/// (descriptions cut to 45 characters unless `--no-trunc`; Docker dropped
/// the AUTOMATED column with Hub's automated builds, and warns that the
/// `is-automated` filter is deprecated). `--format` takes a Go template
/// (fields .Name .Description .StarCount .IsOfficial), `table TEMPLATE`,
/// or `json`, as Docker's does.
/// Other registries have no search API: their catalog (`/v2/_catalog`,
/// followed page by page through its `Link` headers, 100 repositories a
/// page, or the registry's own page size when it allows fewer) is listed,
/// keeping the repositories whose name contains TERM, and no more pages are
/// asked for once `--limit` are found; those have no description or stars.
/// The registry is `--registry HOST`, or the host a TERM like
/// `localhost:5000/app` starts with; else each of registries.conf's
/// `unqualified-search-registries` in turn (img(7)), as podman search does
/// (one that fails is warned about and the others' results shown); else
/// Docker Hub. A `blocked` registry is refused.
///
/// `--tags REPO` lists a repository's tags instead, one per line on stdout
/// (`img-search --tags localhost:5000/app`), asked where img-pull would ask
/// (registries.conf's mirrors that serve tags, then the registry).
#[derive(Debug, Parser)]
#[command(
    name = "img-search",
    version,
    about = "Find repositories on a registry (docker search)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-search busybox\n  img-search --filter is-official=true --limit 5 alpine\n  img-search --registry localhost:5000 app\n  img-search --tags localhost:5000/app"
)]
pub struct Cli {
    #[command(flatten)]
    pub registry_args: RegistryArgs,
    /// Accepted as every img program accepts it; this program keeps nothing in the store
    #[command(flatten)]
    pub common: img_cli::Common,
    /// What to look for
    #[arg(value_name = "TERM", required_unless_present = "tags")]
    pub term: Option<String>,
    /// The most results to show (1 to 100)
    #[arg(long, value_name = "N", default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Show only results that match: stars=N, is-official=true|false, is-automated=true|false (repeatable)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Do not cut descriptions
    #[arg(long)]
    pub no_trunc: bool,
    /// Format the results with a Go template (.Name .Description .StarCount .IsOfficial), 'table TEMPLATE', or 'json'
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The registry to search [default: docker.io]
    #[arg(long = "registry", value_name = "HOST[:PORT]")]
    pub registry: Option<String>,
    /// List the tags of this repository instead
    #[arg(long, value_name = "REPO", conflicts_with = "term")]
    pub tags: Option<String>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Search, or list tags.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let options = cli.registry_args.options()?;
    let mut out = cli::stdout();
    if let Some(repo) = &cli.tags {
        let reference = match &cli.registry {
            Some(host) => Reference::parse(&format!("{host}/{repo}"))?,
            None => Reference::parse(repo)?,
        };
        for tag in
            img_registry::sources::tags_via_mirrors(&reference, &options, &Stderr::new(false))?
        {
            writeln!(out, "{tag}")?;
        }
        out.flush()?;
        return Ok(());
    }
    let format = RowFormat::parse(cli.format.as_deref(), search::FIELDS)?;
    let mut filters = Filters::default();
    for f in &cli.filter {
        filters.add(f)?;
    }
    if filters.automated.is_some() {
        eprintln!(
            "WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future."
        );
    }
    let term = cli.term.clone().unwrap_or_default();
    let (registries, term, named) = match (&cli.registry, term.split_once('/')) {
        (Some(r), _) => (vec![r.clone()], term.clone(), true),
        (None, Some((host, rest))) if host.contains(['.', ':']) || host == "localhost" => {
            (vec![host.to_string()], rest.to_string(), true)
        }
        _ => {
            let configured = options.registries.unqualified_search_registries();
            if configured.is_empty() {
                (vec!["docker.io".to_string()], term.clone(), true)
            } else {
                (configured.to_vec(), term.clone(), false)
            }
        }
    };
    if term.is_empty() {
        return Err(Error::invalid("the search term is empty").into());
    }
    let limit = usize::from(cli.limit);
    let mut results = Vec::new();
    let mut failure = None;
    for registry in &registries {
        let found = search_one(&options, registry, &term, limit, &filters);
        match found {
            Ok(found) => results.extend(found),
            // One of the unqualified-search-registries failing leaves the
            // others' results, as podman search does.
            Err(e) if !named => {
                Stderr::new(false).warn(&format!("searching {registry}: {e}"));
                failure = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if results.is_empty() {
        if let Some(e) = failure {
            return Err(e.into());
        }
    }
    let shown: Vec<_> = results
        .into_iter()
        .filter(|r| filters.accepts(r))
        .take(limit)
        .collect();
    write!(out, "{}", search::render(&shown, cli.no_trunc, &format)?)?;
    out.flush()?;
    Ok(())
}

/// Search one registry: Docker Hub's search API, or another's catalog.
fn search_one(
    options: &ClientOptions,
    registry: &str,
    term: &str,
    limit: usize,
    filters: &Filters,
) -> img_core::Result<Vec<search::SearchResult>> {
    options.registries.check_host(registry)?;
    if is_docker_hub(registry) {
        search::search_hub(options, term, limit)
    } else {
        let client = Client::connect(registry, options)?;
        search::search_catalog(&client, term, limit, |r| filters.accepts(r))
    }
}

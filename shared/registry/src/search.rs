//! Finding repositories: Docker Hub's search API (what `docker search`
//! asks), a registry's `/v2/_catalog` filtered by a term for every other
//! registry, and a repository's tags (`/v2/NAME/tags/list`). Paginated
//! answers are followed through their `Link: <…>; rel="next"` headers.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::transport::auth::Scope;
use crate::transport::client::{header, Call, Client};
use crate::transport::errors::status_error;
use crate::transport::options::ClientOptions;
use crate::transport::url;
use img_core::error::{Error, Kind, Result};
use img_core::template::{self, RowFormat};

/// Docker Hub's search endpoint.
const HUB_SEARCH: &str = "https://index.docker.io/v1/search";
/// How long Docker lets a description be before `…`.
const DESCRIPTION_WIDTH: usize = 45;
/// Pages never followed past this many (a registry looping its links).
const MAX_PAGES: usize = 10_000;
/// Repositories asked for per catalog page (the distribution registry's
/// default most).
const CATALOG_PAGE: usize = 100;
/// Tags asked for per page.
const TAGS_PAGE: usize = 1000;

/// One search hit, in Docker Hub's terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Stars on Docker Hub.
    #[serde(default)]
    pub star_count: u64,
    /// A Docker Official Image.
    #[serde(default)]
    pub is_official: bool,
    /// Built automatically (Hub's retired automated builds).
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct HubAnswer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// `--filter` conditions, as `docker search` takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// At least this many stars.
    pub stars: Option<u64>,
    /// Official or not.
    pub official: Option<bool>,
    /// Automated or not.
    pub automated: Option<bool>,
}

impl Filters {
    /// Add one `KEY=VALUE` filter.
    pub fn add(&mut self, text: &str) -> Result<()> {
        let (key, value) = text.split_once('=').ok_or_else(|| {
            Error::invalid(format!(
                "bad format of filter {text:?} (expected name=value)"
            ))
        })?;
        let boolean = |v: &str| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Error::invalid(format!(
                "invalid filter {text:?}: {key} takes true or false"
            ))),
        };
        match key {
            "stars" => {
                self.stars = Some(value.parse().map_err(|_| {
                    Error::invalid(format!("invalid filter {text:?}: stars takes a number"))
                })?)
            }
            "is-official" => self.official = Some(boolean(value)?),
            "is-automated" => self.automated = Some(boolean(value)?),
            _ => {
                return Err(Error::invalid(format!(
                    "invalid filter {key:?} (use stars=N, is-official=true|false or is-automated=true|false)"
                )))
            }
        }
        Ok(())
    }

    /// Whether `result` passes every filter.
    pub fn accepts(&self, result: &SearchResult) -> bool {
        self.stars.is_none_or(|s| result.star_count >= s)
            && self.official.is_none_or(|o| result.is_official == o)
            && self.automated.is_none_or(|a| result.is_automated == a)
    }
}

/// Parse Docker Hub's search answer.
pub fn parse_hub(bytes: &[u8]) -> Result<Vec<SearchResult>> {
    let answer: HubAnswer = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            Kind::Remote,
            format!("Docker Hub's search answer does not parse: {e}"),
        )
    })?;
    Ok(answer.results)
}

/// Search Docker Hub for `term`, up to `limit` results.
pub fn search_hub(options: &ClientOptions, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .timeout_per_read(Some(options.stall_timeout))
        .build()
        .new_agent();
    let request = url::with_query(
        &url::with_query(HUB_SEARCH, "q", term),
        "n",
        &limit.to_string(),
    );
    let mut response = agent.get(&request).call().map_err(|e| {
        crate::transport::errors::transport_error(e).context("searching Docker Hub")
    })?;
    if !response.status().is_success() {
        return Err(status_error(response, "searching Docker Hub"));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .map_err(|e| {
            crate::transport::errors::transport_error(e).context("searching Docker Hub")
        })?;
    parse_hub(&body)
}

/// The repositories of a registry's catalog whose name contains `term` and
/// that `accept` takes, as search results (with the registry in the name),
/// up to `limit`: no further page is asked for once there are enough.
pub fn search_catalog(
    client: &Client,
    term: &str,
    limit: usize,
    accept: impl Fn(&SearchResult) -> bool,
) -> Result<Vec<SearchResult>> {
    let scope = Scope::catalog();
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    let names = paginate(
        client,
        &client.url("/v2/_catalog"),
        CATALOG_PAGE,
        &scope,
        "repositories",
        |name| {
            let result = SearchResult {
                name: format!("{}/{name}", client.registry()),
                description: String::new(),
                star_count: 0,
                is_official: false,
                is_automated: false,
            };
            if name.contains(term) && accept(&result) {
                found.push(result);
            }
            found.len() < limit
        },
    );
    names.map_err(|e| e.context(format!("listing the catalog of {}", client.registry())))?;
    Ok(found)
}

/// Every tag of `repository`.
pub fn tags(client: &Client, repository: &str) -> Result<Vec<String>> {
    let scope = Scope::pull(repository);
    let mut tags = Vec::new();
    paginate(
        client,
        &client.url(&format!("/v2/{repository}/tags/list")),
        TAGS_PAGE,
        &scope,
        "tags",
        |t| {
            tags.push(t.to_string());
            true
        },
    )
    .map_err(|e| {
        e.context(format!(
            "listing the tags of {}/{repository}",
            client.registry()
        ))
    })?;
    Ok(tags)
}

/// Walk a paginated list (`{"KEY":[…]}` pages linked by `Link`) at `url`,
/// asking for `page_size` items a page, calling `each` per item until it
/// returns false. A registry that allows fewer items a page refuses the
/// size (400, `PAGINATION_NUMBER_INVALID`): then its own size is used.
fn paginate(
    client: &Client,
    url: &str,
    page_size: usize,
    scope: &Scope,
    key: &str,
    mut each: impl FnMut(&str) -> bool,
) -> Result<()> {
    let mut next = Some(url::with_query(url, "n", &page_size.to_string()));
    let mut pages = 0;
    while let Some(mut page) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            break;
        }
        let mut response = client.send(Call::get(page.clone(), scope))?;
        if pages == 1 && response.status().as_u16() == 400 {
            page = url.to_string();
            response = client.send(Call::get(page.clone(), scope))?;
        }
        if !response.status().is_success() {
            return Err(client.error_for(response, "listing"));
        }
        let link = header(&response, "link");
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(crate::transport::errors::transport_error)?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::new(Kind::Remote, format!("the answer is not JSON: {e}")))?;
        let items = value
            .get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for item in items.iter().filter_map(|i| i.as_str()) {
            if !each(item) {
                return Ok(());
            }
        }
        next = link.and_then(|l| url::next_link(&page, &l));
    }
    Ok(())
}

/// Column titles of the fields a `--format` template may use.
pub const FIELDS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

/// The results as current `docker search` prints them: its table (NAME
/// DESCRIPTION STARS OFFICIAL; the AUTOMATED column is gone, as Docker
/// Hub's automated builds are), or `format` (a template, `table …`, or
/// `json`). Descriptions are cut to 45 characters unless `no_trunc`;
/// OFFICIAL is `[OK]` or empty (`true`/`false` in JSON), as Docker's.
pub fn render(results: &[SearchResult], no_trunc: bool, format: &RowFormat) -> Result<String> {
    let json = matches!(format, RowFormat::Json);
    let mut rows = vec![FIELDS.iter().map(|(_, title)| title.to_string()).collect()];
    let mut items = Vec::new();
    for r in results {
        let description = r.description.replace(['\n', '\r'], " ");
        let description = if no_trunc {
            description
        } else {
            ellipsis(&description, DESCRIPTION_WIDTH)
        };
        let official = match (r.is_official, json) {
            (true, true) => "true",
            (false, true) => "false",
            (true, false) => "[OK]",
            (false, false) => "",
        };
        let row = vec![
            r.name.clone(),
            description,
            r.star_count.to_string(),
            official.to_string(),
        ];
        let fields: BTreeMap<&str, &String> = FIELDS
            .iter()
            .map(|(field, _)| *field)
            .zip(row.iter())
            .collect();
        items.push(template::data(&fields)?);
        rows.push(row);
    }
    format.render(&rows, &items)
}

/// Cut `text` to `width` characters, the last one `…`, as Docker does.
fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = r#"{"num_pages":1,"num_results":2,"page":1,"query":"busybox","results":[
        {"name":"busybox","description":"Busybox base image.","star_count":3148,"is_official":true,"is_automated":false},
        {"name":"radial/busyboxplus","description":"Full-chain, Internet enabled, busybox made from scratch. Comes in git and cURL flavors.","star_count":57,"is_official":false,"is_automated":true}]}"#;

    #[test]
    fn formats_hub_results_like_docker() {
        let results = parse_hub(HUB.as_bytes()).unwrap();
        let table = |no_trunc| render(&results, no_trunc, &RowFormat::Default).unwrap();
        let out = table(false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("NAME "), "{out}");
        assert!(
            lines[0].contains("DESCRIPTION") && lines[0].ends_with("OFFICIAL"),
            "{out}"
        );
        assert!(
            lines[1].contains("[OK]") && lines[1].contains("3148"),
            "{out}"
        );
        assert!(
            lines[2].contains("Full-chain, Internet enabled, busybox made f…"),
            "{out}"
        );
        assert!(table(true).contains("git and cURL flavors."));
        let col = lines[0].find("STARS").unwrap();
        assert_eq!(&lines[1][col..col + 4], "3148", "{out}");
        let format = |f: &str| render(&results, false, &RowFormat::parse(Some(f), FIELDS).unwrap());
        assert_eq!(
            format("{{.Name}}: {{.StarCount}} {{.IsOfficial}}").unwrap(),
            "busybox: 3148 [OK]\nradial/busyboxplus: 57 \n"
        );
        assert_eq!(
            format("json").unwrap().lines().next().unwrap(),
            r#"{"Description":"Busybox base image.","IsOfficial":"true","Name":"busybox","StarCount":"3148"}"#
        );
        assert!(format("{{.IsAutomated}}").is_err());
    }

    #[test]
    fn filters() {
        let results = parse_hub(HUB.as_bytes()).unwrap();
        let mut f = Filters::default();
        f.add("stars=100").unwrap();
        assert_eq!(results.iter().filter(|r| f.accepts(r)).count(), 1);
        let mut f = Filters::default();
        f.add("is-official=false").unwrap();
        assert_eq!(
            results.iter().find(|r| f.accepts(r)).unwrap().name,
            "radial/busyboxplus"
        );
        assert!(Filters::default().add("color=red").is_err());
        assert!(Filters::default().add("stars=many").is_err());
        assert!(Filters::default().add("stars").is_err());
        assert!(parse_hub(b"<html>").is_err());
    }
}

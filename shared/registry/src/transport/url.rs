//! The few URL operations the distribution API needs: percent-encoding a
//! query value, resolving a `Location` header against the request URL,
//! adding a query parameter, and following a `Link: <…>; rel="next"` header.

/// Percent-encode `text` for a query value (RFC 3986 unreserved kept).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host[:port]` of an absolute URL.
pub fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Resolve `location` (absolute, absolute-path or relative) against `base`.
pub fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let path_end = base.find('?').unwrap_or(base.len());
        let dir_end = base[..path_end].rfind('/').map_or(path_end, |i| i + 1);
        format!("{}{location}", &base[..dir_end])
    }
}

/// `url` with `key=value` (value encoded) added to its query.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", encode(value))
}

/// The target of a `Link` header's `rel="next"` entry, resolved against `base`.
pub fn next_link(base: &str, link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        is_next.then(|| resolve(base, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve(base, "/v2/a/blobs/uploads/u?_state=x"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=x"
        );
        assert_eq!(resolve(base, "https://s3/x"), "https://s3/x");
        assert_eq!(
            resolve(base, "u1"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1"
        );
        assert_eq!(
            with_query("http://h/x?a=1", "digest", "sha256:ab"),
            "http://h/x?a=1&digest=sha256%3Aab"
        );
        assert_eq!(
            next_link(
                "http://h/v2/_catalog",
                r#"</v2/_catalog?last=b&n=2>; rel="next""#
            )
            .unwrap(),
            "http://h/v2/_catalog?last=b&n=2"
        );
        assert_eq!(next_link("http://h/", r#"<x>; rel="prev""#), None);
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}

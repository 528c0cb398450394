//! Sending one blob to a registry, doing as little as possible: a HEAD
//! first (the registry may have it), then a cross-repository mount from a
//! repository of the same registry that holds it, and only then an upload —
//! one PUT for a small blob, a sequence of PATCH chunks and a closing PUT for
//! a large one. A chunk that fails is resumed from the offset the registry
//! reports for the session (its `Range`); a session the registry gave up
//! (the distribution registry does, when a chunk broke off half-way) is
//! started again. The registry verifies the digest when the upload closes.

use std::fs::File;

use oci_spec::image::Descriptor;
use ureq::http::Response;
use ureq::Body;

use crate::transport::auth::Scope;
use crate::transport::client::{header, Call, Client, Payload};
use crate::transport::url;
use img_core::error::{Error, Kind, Result};
use img_store::Store;

/// Blobs up to this size go in a single PUT.
const MONOLITHIC_MAX: u64 = 16 << 20;
/// The smallest and largest PATCH of a chunked upload: a blob goes in
/// about four chunks (fewer, larger requests are faster; a broken chunk
/// costs at most one to send again).
const MIN_CHUNK: u64 = 16 << 20;
const MAX_CHUNK: u64 = 256 << 20;
/// Upload sessions started for one blob before giving up.
const MAX_SESSIONS: u32 = 3;
/// Failed chunks resumed within one session before it is given up.
const MAX_RESUMES: u32 = 3;

/// What sending a blob did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    /// The registry already had it.
    Exists,
    /// Mounted from this repository of the same registry.
    Mounted(String),
    /// Uploaded.
    Pushed,
}

/// Where a blob goes.
pub struct Destination<'a> {
    /// The connected registry.
    pub client: &'a Client,
    /// The repository.
    pub repository: &'a str,
}

/// Send the blob `descriptor` from `store` to `dest`, trying mounts from
/// `mount_from` (repositories of the same registry); `progress` hears the
/// bytes sent so far.
pub fn upload(
    dest: &Destination<'_>,
    store: &Store,
    descriptor: &Descriptor,
    mount_from: &[String],
    progress: &dyn Fn(u64),
) -> Result<Uploaded> {
    let digest = descriptor.digest();
    let what = || {
        format!(
            "pushing blob {digest} to {}/{}",
            dest.client.registry(),
            dest.repository
        )
    };
    let scope = Scope::push(dest.repository);
    if exists(dest, &scope, descriptor).map_err(|e| e.context(what()))? {
        return Ok(Uploaded::Exists);
    }
    let mut location = None;
    for from in mount_from
        .iter()
        .filter(|f| f.as_str() != dest.repository)
        .take(3)
    {
        let mount_scope = Scope::push(dest.repository).and_pull(from);
        let start = dest
            .client
            .url(&format!("/v2/{}/blobs/uploads/", dest.repository));
        let start = url::with_query(
            &url::with_query(&start, "mount", digest.as_ref()),
            "from",
            from,
        );
        let response = dest.client.send(post(start.clone(), &mount_scope))?;
        match response.status().as_u16() {
            201 => return Ok(Uploaded::Mounted(from.clone())),
            202 => {
                location = header(&response, "location").map(|l| url::resolve(&start, &l));
                break;
            }
            // A refused mount (no access to `from`) is not an error: upload.
            _ => continue,
        }
    }
    let file = store.open_blob_unverified(digest)?;
    let mut last_error = None;
    for _ in 0..MAX_SESSIONS {
        let location = match location.take() {
            Some(l) => l,
            None => match start_session(dest, &scope) {
                Ok(l) => l,
                Err(e) => return Err(e.context(what())),
            },
        };
        let mut session = Session {
            location,
            held: 0,
            resumed: false,
        };
        match send_content(dest, &scope, &file, descriptor, &mut session, progress) {
            Ok(()) => return Ok(Uploaded::Pushed),
            // The registry refused bytes sent in one clean pass: the content
            // itself is wrong, and no new session helps.
            Err(e) if e.kind() == Kind::DigestMismatch && !session.resumed => {
                return Err(Error::new(
                    Kind::DigestMismatch,
                    format!("{e} (the store's copy of the blob may be damaged: pull or load the image again)"),
                )
                .context(what()))
            }
            Err(e) if e.kind() == Kind::InvalidInput => return Err(e.context(what())),
            // A lost connection, a session the registry gave up, or a
            // resumed upload that went wrong: start over in a new session.
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| Error::new(Kind::Remote, "the upload failed"))
        .context(what()))
}

fn post<'a>(url: String, scope: &'a Scope) -> Call<'a> {
    Call {
        method: "POST",
        url,
        scope,
        headers: Vec::new(),
        payload: Payload::Empty,
        idempotent: false,
    }
}

/// Whether the registry has the blob (HEAD).
pub fn exists(dest: &Destination<'_>, scope: &Scope, descriptor: &Descriptor) -> Result<bool> {
    let url = dest.client.url(&format!(
        "/v2/{}/blobs/{}",
        dest.repository,
        descriptor.digest()
    ));
    let call = Call {
        method: "HEAD",
        ..Call::get(url, scope)
    };
    let response = dest.client.send(call)?;
    match response.status().as_u16() {
        200..=299 => Ok(true),
        404 => Ok(false),
        _ => Err(dest
            .client
            .error_for(response, "checking whether the registry has it")),
    }
}

fn start_session(dest: &Destination<'_>, scope: &Scope) -> Result<String> {
    let start = dest
        .client
        .url(&format!("/v2/{}/blobs/uploads/", dest.repository));
    let response = dest.client.send(post(start.clone(), scope))?;
    if response.status().as_u16() != 202 {
        return Err(dest.client.error_for(response, "starting an upload"));
    }
    header(&response, "location")
        .map(|l| url::resolve(&start, &l))
        .ok_or_else(|| {
            Error::new(
                Kind::Remote,
                "the registry started an upload without a Location",
            )
        })
}

/// An upload session: where to send the next request, and how many bytes
/// of the blob the registry holds.
struct Session {
    location: String,
    held: u64,
    /// Whether the upload went on from what the registry reported after a
    /// failure (so a digest the registry rejects may be the resumption's fault).
    resumed: bool,
}

impl Session {
    /// Take the new location (and the held bytes, when the registry says)
    /// from an accepted chunk that ended at byte `end`.
    fn advance(&mut self, response: &Response<Body>, end: u64) {
        if let Some(l) = header(response, "location") {
            self.location = url::resolve(&self.location, &l);
        }
        self.held = header(response, "range")
            .and_then(|r| held_bytes(&r))
            .filter(|&held| held <= end)
            .unwrap_or(end);
    }
}

/// Upload the whole blob through `session`: in PATCH chunks when large (a
/// chunk that fails is resumed from what the registry reports holding),
/// then the closing PUT, which carries the whole blob when it is small.
fn send_content(
    dest: &Destination<'_>,
    scope: &Scope,
    file: &File,
    descriptor: &Descriptor,
    session: &mut Session,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let size = descriptor.size();
    let digest = descriptor.digest();
    if size > MONOLITHIC_MAX {
        let chunk = (size / 4)
            .next_multiple_of(1 << 20)
            .clamp(MIN_CHUNK, MAX_CHUNK);
        let mut resumes = 0;
        while session.held < size {
            let offset = session.held;
            let len = chunk.min(size - offset);
            let call = Call {
                method: "PATCH",
                url: session.location.clone(),
                scope,
                headers: vec![
                    ("Content-Type", "application/octet-stream".to_string()),
                    ("Content-Range", format!("{offset}-{}", offset + len - 1)),
                ],
                payload: Payload::File { file, offset, len },
                idempotent: false,
            };
            let failure = match dest.client.send(call) {
                Ok(response) if response.status().as_u16() == 202 => {
                    session.advance(&response, offset + len);
                    progress(session.held);
                    continue;
                }
                Ok(response)
                    if response.status().as_u16() == 416 || response.status().is_server_error() =>
                {
                    dest.client.error_for(response, "uploading a chunk")
                }
                Ok(response) => return Err(dest.client.error_for(response, "uploading a chunk")),
                Err(e) => e,
            };
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err(failure);
            }
            // Ask how far the registry got and go on from there; a registry
            // that gave the session up answers 404, and a new one starts.
            let (location, held) = status(dest, scope, &session.location).map_err(|_| failure)?;
            *session = Session {
                location,
                held,
                resumed: true,
            };
        }
    }
    let close = url::with_query(&session.location, "digest", digest.as_ref());
    let (headers, payload) = if size > MONOLITHIC_MAX {
        (Vec::new(), Payload::Empty)
    } else {
        (
            vec![("Content-Type", "application/octet-stream".to_string())],
            Payload::File {
                file,
                offset: 0,
                len: size,
            },
        )
    };
    let call = Call {
        method: "PUT",
        url: close,
        scope,
        headers,
        payload,
        idempotent: false,
    };
    let response = dest.client.send(call)?;
    let status_code = response.status().as_u16();
    if !response.status().is_success() {
        let err = dest.client.error_for(response, "closing the upload");
        if status_code == 400 && err.to_string().contains("digest") {
            return Err(Error::new(Kind::DigestMismatch, err.to_string()));
        }
        return Err(err);
    }
    if let Some(announced) = header(&response, "docker-content-digest") {
        if announced.trim() != digest.as_ref() {
            return Err(Error::new(
                Kind::Remote,
                format!("the registry stored the blob as {announced}, not {digest}"),
            ));
        }
    }
    progress(size);
    Ok(())
}

/// The upload session's state: its location and the bytes it holds.
fn status(dest: &Destination<'_>, scope: &Scope, location: &str) -> Result<(String, u64)> {
    let response = dest.client.send(Call::get(location.to_string(), scope))?;
    if response.status().as_u16() != 204 {
        return Err(dest
            .client
            .error_for(response, "asking how much of the upload arrived"));
    }
    let next = header(&response, "location")
        .map(|l| url::resolve(location, &l))
        .unwrap_or_else(|| location.to_string());
    let held = header(&response, "range")
        .and_then(|r| held_bytes(&r))
        .unwrap_or(0);
    Ok((next, held))
}

/// The bytes an upload session holds, from its `Range: 0-LAST` header
/// (LAST inclusive). `0-0` counts as nothing: the distribution registry
/// answers it for an empty session (and a session holding one byte never
/// happens here: chunks are megabytes).
fn held_bytes(range: &str) -> Option<u64> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (first, last) = range.split_once('-')?;
    let (first, last) = (
        first.trim().parse::<u64>().ok()?,
        last.trim().parse::<u64>().ok()?,
    );
    match (first, last) {
        (0, 0) => Some(0),
        (0, last) => Some(last + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_upload_ranges() {
        assert_eq!(held_bytes("0-67108863"), Some(64 << 20));
        assert_eq!(held_bytes("0-0"), Some(0));
        assert_eq!(held_bytes("bytes=0-9"), Some(10));
        assert_eq!(held_bytes("5-9"), None);
        assert_eq!(held_bytes("junk"), None);
    }
}

//! Sending one blob to a registry, doing as little as possible: a HEAD
//! first (the registry may have it), then a cross-repository mount from a
//! repository of the same registry that holds it, and only then an upload —
//! one PUT for a small blob, a sequence of PATCH chunks and a closing PUT for
//! a large one. A chunk that fails is resumed from the offset the registry
//! reports for the session; a session that cannot be resumed is started
//! again. The registry verifies the digest when the upload closes.

use std::fs::File;

use oci_spec::image::Descriptor;

use super::auth::Scope;
use super::client::{header, status_error, Call, Client, Payload};
use super::url;
use crate::error::{Error, Kind, Result};
use crate::store::Store;

/// Blobs up to this size go in a single PUT.
const MONOLITHIC_MAX: u64 = 16 << 20;
/// The size of each PATCH of a chunked upload.
const CHUNK: u64 = 64 << 20;
/// Upload sessions started for one blob before giving up.
const MAX_SESSIONS: u32 = 3;

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
        let session = match location.take() {
            Some(l) => l,
            None => match start_session(dest, &scope) {
                Ok(l) => l,
                Err(e) => return Err(e.context(what())),
            },
        };
        match send_content(dest, &scope, &file, descriptor, session, progress) {
            Ok(()) => return Ok(Uploaded::Pushed),
            // The registry refused the content itself: no new session helps.
            Err(e) if e.kind() == Kind::DigestMismatch || e.kind() == Kind::InvalidInput => {
                return Err(e.context(what()))
            }
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
        _ => Err(status_error(
            response,
            "checking whether the registry has it",
        )),
    }
}

fn start_session(dest: &Destination<'_>, scope: &Scope) -> Result<String> {
    let start = dest
        .client
        .url(&format!("/v2/{}/blobs/uploads/", dest.repository));
    let response = dest.client.send(post(start.clone(), scope))?;
    if response.status().as_u16() != 202 {
        return Err(status_error(response, "starting an upload"));
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

/// Upload the whole blob through the session at `location`.
fn send_content(
    dest: &Destination<'_>,
    scope: &Scope,
    file: &File,
    descriptor: &Descriptor,
    mut location: String,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let size = descriptor.size();
    let digest = descriptor.digest();
    let mut sent = 0u64;
    if size > MONOLITHIC_MAX {
        let mut resumes = 0;
        while sent < size {
            let len = CHUNK.min(size - sent);
            let call = Call {
                method: "PATCH",
                url: location.clone(),
                scope,
                headers: vec![
                    ("Content-Type", "application/octet-stream".to_string()),
                    ("Content-Range", format!("{sent}-{}", sent + len - 1)),
                ],
                payload: Payload::File {
                    file,
                    offset: sent,
                    len,
                },
                idempotent: false,
            };
            match dest.client.send(call) {
                Ok(response) if response.status().as_u16() == 202 => {
                    if let Some(l) = header(&response, "location") {
                        location = url::resolve(&location, &l);
                    }
                    sent += len;
                    progress(sent);
                }
                Ok(response)
                    if response.status().as_u16() == 416 || response.status().is_server_error() =>
                {
                    resumes += 1;
                    if resumes > 3 {
                        return Err(status_error(response, "uploading a chunk"));
                    }
                    (location, sent) = status(dest, scope, &location)?;
                }
                Ok(response) => return Err(status_error(response, "uploading a chunk")),
                Err(e) => {
                    resumes += 1;
                    if resumes > 3 {
                        return Err(e);
                    }
                    // Ask how far the registry got; go on from there.
                    (location, sent) = status(dest, scope, &location).map_err(|_| e)?;
                }
            }
        }
    }
    let close = url::with_query(&location, "digest", digest.as_ref());
    let (headers, payload) = if sent < size {
        (
            vec![("Content-Type", "application/octet-stream".to_string())],
            Payload::File {
                file,
                offset: 0,
                len: size,
            },
        )
    } else {
        (Vec::new(), Payload::Empty)
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
    if status_code != 201 && !response.status().is_success() {
        let err = status_error(response, "closing the upload");
        if status_code == 400 && err.to_string().contains("digest") {
            return Err(Error::new(
                Kind::DigestMismatch,
                format!("{err} (the store's copy of the blob may be damaged)"),
            ));
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
        return Err(status_error(
            response,
            "asking how much of the upload arrived",
        ));
    }
    let next = header(&response, "location")
        .map(|l| url::resolve(location, &l))
        .unwrap_or_else(|| location.to_string());
    // `Range: 0-N` (N inclusive); no header means nothing arrived.
    let held = header(&response, "range")
        .and_then(|r| {
            r.rsplit('-')
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .map_or(0, |last| last + 1);
    Ok((next, held))
}

//! Records: the NDJSON that flows between programs. A record is an OCI
//! descriptor of a manifest or index, one JSON object per line, with the
//! image's full normalized name in the `org.opencontainers.image.ref.name`
//! annotation when it has one, and its platform when it is one image.

use std::collections::HashMap;
use std::io::Write;

use oci_spec::image::{Arch, Descriptor, Os, PlatformBuilder};

use crate::error::{Error, IoContext, Result};
use crate::image::Target;
use crate::reference::Reference;

/// The annotation that holds an image's name, in a record and in the
/// store's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The record for an image, with `name` in the ref-name annotation.
pub fn for_target(target: &Target, name: Option<&Reference>) -> Descriptor {
    let mut record = Descriptor::new(
        target.descriptor().media_type().clone(),
        target.descriptor().size(),
        target.digest().clone(),
    );
    if let Some(name) = name {
        record.set_annotations(Some(HashMap::from([(
            REF_NAME.to_string(),
            name.store_name(),
        )])));
    }
    if let Target::Image(image) = target {
        let mut platform = PlatformBuilder::default()
            .architecture(Arch::from(image.config.architecture().to_string().as_str()))
            .os(Os::from(image.config.os().to_string().as_str()));
        if let Some(v) = image.config.variant() {
            platform = platform.variant(v.clone());
        }
        record.set_platform(platform.build().ok());
    }
    record
}

/// The name a record carries, if any.
pub fn name_of(record: &Descriptor) -> Option<Reference> {
    record
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .and_then(|n| Reference::parse(n).ok())
}

/// Write one record as a line of JSON.
pub fn write(out: &mut impl Write, record: &Descriptor) -> Result<()> {
    let line = crate::json::canonical(record)?;
    out.write_all(&line)
        .and_then(|_| out.write_all(b"\n"))
        .io_context(|| "writing a record to stdout".into())
}

/// Whether a line of input is meant as a record (a JSON object) rather
/// than an image ID or name.
pub fn looks_like_record(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

/// The record on stdin line `number`; anything but a descriptor with a
/// sha256 digest is bad input, reported with the line number.
pub fn parse(line: &str, number: usize) -> Result<Descriptor> {
    let record: Descriptor = serde_json::from_str(line).map_err(|e| {
        Error::invalid(format!(
            "stdin line {number}: not an image record (an OCI descriptor as JSON): {e}"
        ))
    })?;
    crate::digest::ensure_sha256(record.digest())
        .map_err(|e| e.context(format!("stdin line {number}")))?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_rejects_garbage() {
        let hex = "a".repeat(64);
        let good = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{hex}\",\"size\":3}}"
        );
        assert!(looks_like_record(&good));
        assert_eq!(parse(&good, 1).unwrap().size(), 3);
        let err = parse("{\"x\":1}", 7).unwrap_err();
        assert!(err.to_string().contains("line 7"), "{err}");
        assert_eq!(err.kind(), crate::error::Kind::InvalidInput);
        assert!(!looks_like_record("busybox:latest"));
        assert!(!looks_like_record("315e3c013cd1"));
    }
}

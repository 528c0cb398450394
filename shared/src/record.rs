//! Records: the NDJSON that flows between programs. A record is an OCI
//! descriptor of a manifest or index, one JSON object per line, with the
//! image's full normalized name in the `org.opencontainers.image.ref.name`
//! annotation when it has one, and its platform when it is one image.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};

use oci_spec::image::{Arch, Descriptor, Os, PlatformBuilder};

use crate::error::{Error, IoContext, Result};
use crate::image::Target;
use crate::reference::Reference;
use crate::store::REF_NAME;

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

/// The longest line a record may take: descriptors are small, and a
/// stream without newlines (a binary file on stdin) must not be held whole.
const MAX_RECORD_LINE: u64 = 1 << 20;

/// Read every record from `input`; a line that is not a descriptor (not
/// UTF-8, not JSON, too long) is bad input, reported with its line number.
pub fn read_all(mut input: impl BufRead) -> Result<Vec<Descriptor>> {
    let mut records = Vec::new();
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        let read = (&mut input)
            .take(MAX_RECORD_LINE + 1)
            .read_until(b'\n', &mut line)
            .io_context(|| "reading records from stdin".into())?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && line.len() as u64 > MAX_RECORD_LINE {
            return Err(Error::invalid(format!(
                "stdin line {n}: longer than {} KiB, not an image record",
                MAX_RECORD_LINE >> 10
            )));
        }
        let text = std::str::from_utf8(&line).map_err(|e| {
            Error::invalid(format!(
                "stdin line {n}: not an image record (not UTF-8 text: {e})"
            ))
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let record: Descriptor = serde_json::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "stdin line {n}: not an image record (an OCI descriptor as JSON): {e}"
            ))
        })?;
        crate::digest::ensure_sha256(record.digest())
            .map_err(|e| e.context(format!("stdin line {n}")))?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_rejects_garbage() {
        let hex = "a".repeat(64);
        let good = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{hex}\",\"size\":3}}\n\n"
        );
        let records = read_all(good.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        let err = read_all("{\"x\":1}\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert_eq!(err.kind(), crate::error::Kind::InvalidInput);
    }

    /// Binary garbage is bad input (exit 2), not a failed read (exit 1),
    /// wherever it sits, and a stream without newlines is not read whole.
    #[test]
    fn binary_garbage_is_bad_input() {
        let hex = "a".repeat(64);
        let good = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{hex}\",\"size\":3}}\n"
        );
        for (input, line) in [
            (b"\xff\xfe\x00garbage\n".to_vec(), 1),
            ([good.as_bytes(), b"\x80\x81"].concat(), 2),
            (vec![0x9c; 3 << 20], 1),
        ] {
            let err = read_all(&input[..]).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::InvalidInput, "{err}");
            assert!(err.to_string().contains(&format!("line {line}")), "{err}");
        }
    }
}

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

/// The longest line a record may take: descriptors are small, and a
/// stream without newlines (a binary file on stdin) must not be held whole.
const MAX_RECORD_LINE: u64 = 1 << 20;

/// The non-blank lines of `input`, trimmed, each with its line number. A
/// line that cannot be a record nor an image name (not UTF-8, longer than
/// [`MAX_RECORD_LINE`]) is bad input (exit 2), reported with its number,
/// not a failed read.
pub fn read_lines(mut input: impl BufRead) -> Result<Vec<(usize, String)>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        let read = (&mut input)
            .take(MAX_RECORD_LINE + 1)
            .read_until(b'\n', &mut line)
            .io_context(|| "reading images from stdin".into())?;
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
        let text = text.trim();
        if !text.is_empty() {
            lines.push((n, text.to_string()));
        }
    }
    Ok(lines)
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
            let err = read_lines(&input[..]).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::InvalidInput, "{err}");
            assert!(err.to_string().contains(&format!("line {line}")), "{err}");
        }
        let lines = read_lines(format!("\n {good}  \n").as_bytes()).unwrap();
        assert_eq!(lines, [(2, good.trim().to_string())]);
    }
}

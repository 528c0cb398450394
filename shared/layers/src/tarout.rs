//! Writing tar streams, the one home of tar's blocks: data padded to a
//! whole [`BLOCK`], PAX extended headers ([`write_pax`]) and the
//! end-of-archive blocks ([`finish`]), for every tar img writes (layers here,
//! `img-save`'s archives in `img_archive`). And entries that keep what a
//! layer's entry carried: its header (type, mode, owner, times, device
//! numbers) and its PAX records (extended attributes such as file
//! capabilities, precise times), under a new path and link target. Paths and
//! link targets too long for the header go into PAX records, which every
//! modern tar reads.

use std::io::{self, Read, Write};

use img_core::error::{Error, IoContext, Result};

/// A tar block: headers are one, and every entry's data is padded to a
/// whole number of them.
pub const BLOCK: usize = 512;

/// PAX keys that describe the entry's placement and size, which the writer
/// sets itself; every other record is carried over.
const REPLACED_KEYS: &[&str] = &["path", "linkpath", "size"];

/// An entry's header and PAX records, kept to be written later.
#[derive(Debug, Clone)]
pub(crate) struct EntryMeta {
    /// The header as read (path and checksum are rewritten on output).
    pub header: tar::Header,
    /// PAX records other than path, linkpath and size.
    pub pax: Vec<(String, Vec<u8>)>,
}

impl EntryMeta {
    /// Take the header and PAX records of an entry being read.
    pub fn of<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<EntryMeta> {
        let mut pax = Vec::new();
        if let Some(records) = entry
            .pax_extensions()
            .map_err(|e| Error::invalid(format!("reading PAX records: {e}")))?
        {
            for record in records {
                let record = record.map_err(|e| Error::invalid(format!("bad PAX record: {e}")))?;
                let key = record
                    .key()
                    .map_err(|e| Error::invalid(format!("bad PAX record key: {e}")))?;
                if !REPLACED_KEYS.contains(&key) && !key.starts_with("GNU.sparse.") {
                    pax.push((key.to_string(), record.value_bytes().to_vec()));
                }
            }
        }
        let mut header = entry.header().clone();
        // A sparse file is written out whole, as a regular file.
        if header.entry_type().is_gnu_sparse() {
            header.set_entry_type(tar::EntryType::Regular);
        }
        Ok(EntryMeta { header, pax })
    }

    /// The extended attributes the PAX records carry (`SCHILY.xattr.*`).
    pub fn xattrs(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pax.iter().filter_map(|(key, value)| {
            key.strip_prefix("SCHILY.xattr.")
                .map(|attribute| (attribute, value.as_slice()))
        })
    }
}

/// Write one entry: `meta` under `path` (a cleaned relative path; a
/// directory gets a trailing `/`), with `link` as its link target, then
/// `size` bytes of `data`.
pub(crate) fn write_entry<W: Write>(
    out: &mut W,
    meta: &EntryMeta,
    path: &[u8],
    link: Option<&[u8]>,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = meta.header.clone();
    let mut pax = meta.pax.clone();
    let mut name = path.to_vec();
    if header.entry_type().is_dir() {
        name.push(b'/');
    }
    if header.set_path(to_path(&name)).is_err() || !name.is_ascii() {
        // Too long for the header (or not portable there): PAX path, and a
        // short stand-in in the header for readers that ignore PAX.
        pax.push(("path".into(), name.clone()));
        let short: Vec<u8> = name.iter().copied().filter(u8::is_ascii).take(99).collect();
        header
            .set_path(to_path(&short))
            .io_context(|| "naming a tar entry".into())?;
    }
    if let Some(link) = link {
        if header.set_link_name(to_path(link)).is_err() || !link.is_ascii() {
            pax.push(("linkpath".into(), link.to_vec()));
            let short: Vec<u8> = link.iter().copied().filter(u8::is_ascii).take(99).collect();
            header
                .set_link_name(to_path(&short))
                .io_context(|| "naming a link target".into())?;
        }
    }
    header.set_size(size);
    if size >= 0o77777777777 {
        pax.push(("size".into(), size.to_string().into_bytes()));
    }
    header.set_cksum();
    if !pax.is_empty() {
        write_pax(out, "PaxHeader", &pax_records(&pax))?;
    }
    out.write_all(header.as_bytes())
        .io_context(|| "writing the tar".into())?;
    let copied = io::copy(&mut data.take(size), out).io_context(|| "writing the tar".into())?;
    if copied != size {
        return Err(Error::invalid(format!(
            "tar entry {} ended after {copied} of {size} bytes",
            String::from_utf8_lossy(path)
        )));
    }
    pad(out, size)
}

/// Write the end-of-archive blocks.
pub fn finish<W: Write>(out: &mut W) -> Result<()> {
    out.write_all(&[0u8; 2 * BLOCK])
        .and_then(|_| out.flush())
        .io_context(|| "writing the tar".into())
}

fn to_path(bytes: &[u8]) -> std::path::PathBuf {
    img_core::path::to_path(bytes)
}

/// Pad an entry's `size` bytes of data to a whole block.
pub fn pad<W: Write>(out: &mut W, size: u64) -> Result<()> {
    let rest = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&[0u8; BLOCK][..rest])
        .io_context(|| "writing the tar".into())
}

/// PAX `records` encoded as an extended header's body.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        // "LEN key=value\n", where LEN counts the whole record, itself too.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + rest.to_string().len();
        if len.to_string().len() != rest.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {key}=").as_bytes());
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    body
}

/// A PAX extended header entry named `name` whose body is `records`
/// (already encoded, `LEN key=value\n` each), padded to a whole block.
pub fn write_pax<W: Write>(out: &mut W, name: &str, records: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .io_context(|| "naming a PAX header".into())?;
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(records.len() as u64);
    header.set_mtime(0);
    header.set_cksum();
    out.write_all(header.as_bytes())
        .and_then(|_| out.write_all(records))
        .io_context(|| "writing the tar".into())?;
    pad(out, records.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_and_xattrs_survive() {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        let meta = EntryMeta {
            header,
            pax: vec![("SCHILY.xattr.user.x".into(), b"1".to_vec())],
        };
        let long = "d/".repeat(80) + "file";
        let mut out = Vec::new();
        write_entry(&mut out, &meta, long.as_bytes(), None, 3, &b"abc"[..]).unwrap();
        finish(&mut out).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path_bytes().as_ref(), long.as_bytes());
        let pax: Vec<_> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| r.unwrap().key().unwrap().to_string())
            .collect();
        assert!(pax.contains(&"SCHILY.xattr.user.x".to_string()));
        let mut data = String::new();
        entry.read_to_string(&mut data).unwrap();
        assert_eq!(data, "abc");
        assert_eq!(entry.header().mode().unwrap(), 0o755);
    }
}

//! What ADD does beyond COPY.
//!
//! * A local source file that is a tar archive — plain, or compressed with
//!   gzip, bzip2, xz or zstd — is unpacked into the destination directory,
//!   as `tar -x` would, instead of being copied. It is recognised by its
//!   bytes (a compression's magic number, then a tar header whose checksum
//!   holds), never by its name; anything else, a compressed file that is
//!   not a tar included, is copied as it is. Entries keep the archive's
//!   owners and modes; one that would land outside the destination (`..`,
//!   a link out of it) is refused, and OCI whiteouts are applied, by the
//!   layer unpacker ([`img_layers::extract`]).
//! * A URL is downloaded to a file named after the URL's last path element,
//!   mode 0600 (or `--chmod`'s), with the modification time the server's
//!   `Last-Modified` gives (the epoch when it gives none), as Docker does;
//!   it is never unpacked. With `--checksum` the bytes must have that
//!   digest. The download goes to a temporary file beside its target and
//!   is renamed into place, so a failed one leaves no partial file.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::fs::Timespec;

use super::source::Found;
use super::write::{apply, Meta, Writer};
use img_core::confine::Root;
use img_core::digest::DigestWriter;
use img_core::error::{Error, IoContext, Kind, Result};
use img_layers::compression::{self, Compression, BUFFER};
use img_layers::extract::{self, Options};

const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, 0x37, 0x7a, 0x58];
/// A tar header block.
const BLOCK: usize = 512;

/// Unpack `found` into the destination when it is a tar archive; `false`
/// when it is not one (and nothing was written).
pub fn unpack(writer: &mut Writer, found: &Found) -> Result<bool> {
    let file =
        fs::File::open(&found.path).io_context(|| format!("reading {}", found.path.display()))?;
    let Some(tar) = archive_reader(file)? else {
        return Ok(false);
    };
    let (dir, rel) = writer.dest_dir()?;
    let options = Options {
        preserve_owners: true,
        overlay: false,
    };
    // The destination directory is the archive's root, as Docker unpacks
    // it: its links resolve inside it.
    let report = extract::apply_in(tar, &Root::from_dir(dir), &options).map_err(|e| {
        e.context(format!(
            "unpacking {} into /{}",
            found.name.to_string_lossy(),
            String::from_utf8_lossy(&rel)
        ))
    })?;
    writer.report().extracted += report.written;
    Ok(true)
}

/// The uncompressed tar stream of `file`, or `None` when it is not a tar
/// archive, compressed or not.
fn archive_reader(file: fs::File) -> Result<Option<Box<dyn Read>>> {
    let (prefix, reader) = compression::peek(file)?;
    let mut decoded: Box<dyn Read> = if prefix.starts_with(BZIP2_MAGIC) {
        Box::new(bzip2::read::MultiBzDecoder::new(BufReader::with_capacity(
            BUFFER, reader,
        )))
    } else if prefix.starts_with(XZ_MAGIC) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            BufReader::with_capacity(BUFFER, reader),
        ))
    } else {
        compression::decoder(Compression::detect(&prefix), reader)?
    };
    let mut header = vec![0u8; BLOCK];
    // Too short, or bytes that do not decompress: not an archive, and the
    // file is copied as it is.
    if decoded.read_exact(&mut header).is_err() || !is_tar_header(&header) {
        return Ok(None);
    }
    Ok(Some(Box::new(io::Cursor::new(header).chain(decoded))))
}

/// Whether a block is a tar header: not all zeros, and its checksum field
/// holds the sum of its bytes (the field itself counted as spaces), in
/// either the unsigned or the old signed reckoning, as Go's reader checks.
fn is_tar_header(block: &[u8]) -> bool {
    if block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .map(|b| *b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(stored) = i64::from_str_radix(&text, 8) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored == signed
}

/// Download `url` to the file `name` in (or as) the destination.
pub fn download(writer: &mut Writer, url: &str, name: &str) -> Result<()> {
    let target = writer.file_target(OsStr::new(name))?;
    writer.clear_for_file(&target)?;
    let remote = |e: ureq::Error| {
        Error::new(
            Kind::Remote,
            format!("ADD {url}: downloading failed: {e} (check the URL and the network)"),
        )
    };
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(300)))
        .max_redirects(10)
        .user_agent(format!("img/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    let response = agent.get(url).call().map_err(remote)?;
    let modified = response
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(img_core::timestamp::parse_http_date)
        .map_or(0, |t| t.timestamp());
    let mut body = response.into_body().into_reader();
    // Beside its target, renamed into place once complete and checked.
    let temp = OsString::from(format!(
        ".img-add-{}-{}",
        std::process::id(),
        DOWNLOADS.fetch_add(1, Ordering::Relaxed)
    ));
    let downloaded = (|| {
        let mut file = target.dir.create_file(&temp)?;
        let mut out = DigestWriter::new(&mut file);
        io::copy(&mut img_core::cancel::Checked(&mut body), &mut out)
            .io_context(|| format!("ADD {url}: downloading"))?;
        let (got, size) = out.digest();
        if let Some(expected) = &writer.request().checksum {
            if *expected != got {
                return Err(Error::digest_mismatch(expected, &got).context(format!("ADD {url}")));
            }
        }
        target.dir.rename(&temp, &target.name)?;
        Ok(size)
    })();
    let size = match downloaded {
        Ok(size) => size,
        Err(e) => {
            let _ = target.dir.remove_file(&temp);
            return Err(e);
        }
    };
    let (uid, gid) = writer.owner(None);
    let time = Timespec {
        tv_sec: modified,
        tv_nsec: 0,
    };
    let meta = Meta {
        uid,
        gid,
        mode: Some(writer.mode(0o600, false)),
        times: Some((time, time)),
    };
    apply(&target.dir, &target.name, &meta)?;
    let report = writer.report();
    report.files += 1;
    report.bytes += size;
    Ok(())
}

/// Downloads made by this process, for unique temporary names.
static DOWNLOADS: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
#[path = "add_tests.rs"]
mod tests;

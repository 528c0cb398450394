//! The entries of a layer tar listed for a person, as `tar -tv` lists them:
//! type and mode, numeric owner, size, modification time, path, and the
//! target of a link. Whiteouts are what a layer removes, so they are shown
//! as removals of their target (`path (removed)`), and an opaque marker as
//! `dir/ (opaque: lower contents removed)`, rather than as the odd files
//! they are in the tar.

use std::io::{self, Read, Write};

use chrono::{Local, TimeZone};

use super::whiteout::{self, Kind};
use img_core::error::{Error, IoContext, Result};
use img_core::path;

/// Write one line per entry of the uncompressed tar `layer` into `out`;
/// returns the number of entries.
pub fn list_files(layer: impl Read, out: &mut impl Write) -> Result<u64> {
    let mut archive = tar::Archive::new(layer);
    let bad =
        |e: io::Error| Error::invalid(format!("not a valid layer tar: {}", super::one_line(&e)));
    let mut count = 0;
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let header = entry.header();
        let kind = header.entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let shown = path::clean(&raw)?;
        let name = String::from_utf8_lossy(shown.as_deref().unwrap_or(b".")).into_owned();
        let mode = header.mode().unwrap_or(0);
        let owner = format!(
            "{}/{}",
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0)
        );
        let size = match kind {
            tar::EntryType::Char | tar::EntryType::Block => format!(
                "{},{}",
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0)
            ),
            _ => entry.size().to_string(),
        };
        let time = i64::try_from(header.mtime().unwrap_or(0))
            .ok()
            .and_then(|t| Local.timestamp_opt(t, 0).single())
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let tail = match shown.as_deref().map(whiteout::classify) {
            // Listed, so that a person sees what img refuses to apply.
            Some(Err(_)) => format!("{name} (not a valid whiteout: refused)"),
            Some(Ok(Kind::Remove(target))) => {
                format!("{} (removed)", String::from_utf8_lossy(&target))
            }
            Some(Ok(Kind::Opaque(dir))) => format!(
                "{}/ (opaque: lower contents removed)",
                String::from_utf8_lossy(dir.unwrap_or(b"."))
            ),
            _ => match (kind, link) {
                (tar::EntryType::Symlink, Some(l)) => format!("{name} -> {l}"),
                (tar::EntryType::Link, Some(l)) => format!("{name} link to {l}"),
                (k, _) if k.is_dir() => format!("{name}/"),
                _ => name,
            },
        };
        writeln!(
            out,
            "{}{} {owner:>9} {size:>10} {time} {}",
            type_char(kind),
            mode_string(mode),
            tail.escape_debug()
        )
        .io_context(|| "writing to stdout".into())?;
        count += 1;
    }
    Ok(count)
}

fn type_char(kind: tar::EntryType) -> char {
    match kind {
        tar::EntryType::Directory => 'd',
        tar::EntryType::Symlink => 'l',
        tar::EntryType::Link => 'h',
        tar::EntryType::Char => 'c',
        tar::EntryType::Block => 'b',
        tar::EntryType::Fifo => 'p',
        _ => '-',
    }
}

/// `rwxr-xr-x` with set-ID and sticky bits as `ls` shows them.
fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_ls_shows_them() {
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
        assert_eq!(mode_string(0o1777), "rwxrwxrwt");
        assert_eq!(mode_string(0o2644), "rw-r-Sr--");
    }
}

//! Tests of the layer check: what passes, what is refused, and the check
//! of a layer fed as it arrives.

use std::io::Write;

use super::*;

/// A tar of (raw path, type, link target) entries, written raw so that
/// hostile names reach the bytes unchanged.
fn tar_of(entries: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, kind, link) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

use tar::EntryType::{Link, Regular, Symlink};

#[test]
fn a_plain_layer_passes() {
    let layer = tar_of(&[
        (b"./", tar::EntryType::Directory, b""),
        (b"etc/passwd", Regular, b""),
        (b"/abs/path", Regular, b""),
        (b"etc/.wh.shadow", Regular, b""),
        (b"etc/.wh..wh..opq", Regular, b""),
        (b"link", Symlink, b"/etc/../../passwd"),
        (b"hard", Link, b"etc/passwd"),
        (b".wh..wh.plnk/1.2", Regular, b""),
    ]);
    assert_eq!(tar(&layer[..]).unwrap(), 8);
}

#[test]
fn hostile_entries_are_refused() {
    for (path, kind, link) in [
        (&b"../x"[..], Regular, &b""[..]),
        (b"a/../../x", Regular, b""),
        (b".wh..", Regular, b""),
        (b".wh...", Regular, b""),
        (b"dir/.wh...", Regular, b""),
        (b"r/.wh...", Regular, b""),
        (b".wh.", Regular, b""),
        (b".wh.x/y", Regular, b""),
        (b"hard", Link, b"../etc/passwd"),
        (b"hard", Link, b"/"),
        (b"vol", tar::EntryType::new(b'V'), b""),
    ] {
        let layer = tar_of(&[(b"ok", Regular, b""), (path, kind, link)]);
        let err = tar(&layer[..]).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidInput, "{path:?}: {err}");
    }
}

#[test]
fn a_layer_fed_as_it_arrives_is_checked_and_its_buffers_come_back() {
    let good = tar_of(&[(b"a", Regular, b""), (b"b/.wh.c", Regular, b"")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&good).unwrap();
    let good_gz = gz.finish().unwrap();
    let bad = tar_of(&[(b"a", Regular, b""), (b"b/.wh...", Regular, b"")]);
    // Pieces of 3 bytes are too short to tell the compression from at once.
    for (bytes, fine, piece_len) in [
        (&good, true, 100),
        (&good_gz, true, 100),
        (&good_gz, true, 3),
        (&bad, false, 100),
        (&bad, false, 3),
    ] {
        let (back, returned) = mpsc::channel();
        let check = Background::start("layer under test".into());
        let mut fed = 0;
        for piece in bytes.chunks(piece_len) {
            let mut buffer = vec![0u8; 300];
            buffer[7..7 + piece.len()].copy_from_slice(piece);
            check.feed(Chunk {
                buffer,
                start: 7,
                len: piece.len(),
                back: Some(back.clone()),
            });
            fed += 1;
        }
        drop(back);
        let result = check.finish();
        assert_eq!(result.is_ok(), fine, "{result:?}");
        if let Err(e) = result {
            assert_eq!(e.kind(), Kind::InvalidInput);
            assert!(e.to_string().starts_with("layer under test: "), "{e}");
        }
        assert_eq!(returned.iter().count(), fed, "every buffer came back");
    }
}

#[test]
fn a_layer_file_is_checked_from_its_start_whatever_its_compression() {
    let good = tar_of(&[(b"a", Regular, b""), (b"b", Regular, b"")]);
    let bad = tar_of(&[(b"a", Regular, b""), (b".wh...", Regular, b"")]);
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    for (bytes, fine) in [
        (good.clone(), true),
        (gzip(&good), true),
        (bad.clone(), false),
        (gzip(&bad), false),
    ] {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes).unwrap();
        assert_eq!(file(f).is_ok(), fine);
    }
    // A plain tar whose last file claims more bytes than it holds.
    let mut cut = tar_of(&[(b"a", Regular, b"")]);
    cut.truncate(512);
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..1].copy_from_slice(b"b");
    h.set_size(1 << 40);
    h.set_cksum();
    cut.extend_from_slice(h.as_bytes());
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&cut).unwrap();
    let err = file(f).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
}

/// Contents are skipped where they were inflated: a compressed layer with
/// contents passes, entry count and all, and one whose last entry claims
/// more content than the (whole, valid) gzip stream holds is cut short.
#[test]
fn a_compressed_layer_skips_contents_and_notices_one_cut_short() {
    let mut b = tar::Builder::new(Vec::new());
    for (n, size) in [(0u8, 5usize), (1, 3 << 20), (2, 512), (3, 0)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(Regular);
        h.set_mode(0o644);
        h.set_size(size as u64);
        let content: Vec<u8> = (0..size).map(|i| (i * 31 + n as usize) as u8).collect();
        b.append_data(&mut h, format!("f{n}"), &content[..])
            .unwrap();
    }
    let whole = b.into_inner().unwrap();
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&gzip(&whole)).unwrap();
    assert_eq!(file(f).unwrap(), 4);
    // Cut inside the big file's content, then compressed whole.
    let cut = &whole[..(2 << 20)];
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&gzip(cut)).unwrap();
    let err = file(f).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidInput, "{err}");
}

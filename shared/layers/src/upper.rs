//! The layer an overlayfs upper directory holds: what a container (or a
//! build step) changed, as Docker's overlay2 driver diffs it.
//!
//! The upper directory of an overlay mount already is the change: every
//! file in it was added or modified, an overlayfs whiteout (a character
//! device 0/0) marks a deleted path, and a directory with the
//! `trusted.overlay.opaque` attribute hides everything the layers below
//! had in it. So the layer is the upper tree written as `create` writes
//! trees, with whiteouts as `.wh.NAME` entries and opaque directories
//! followed by their `.wh..wh..opq` marker — no comparison with the lower
//! layers is needed. The mount must use neither `redirect_dir` nor
//! `metacopy` (img mounts its overlays without them), whose upper entries
//! would not be whole files.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::image::Descriptor;

use super::compression::{Compression, Compressor};
use super::create::{check_dir, sorted_children, Options, Report, TreeWriter};
use super::extract::OVERLAY_OPAQUE;
use img_core::digest::{Digest, DigestWriter};
use img_core::error::{IoContext, Result};
use img_core::path;
use img_store::Store;

/// Write the layer the overlay upper directory `upper` holds into `out`.
pub fn write_layer<W: Write>(upper: &Path, out: W, options: Options) -> Result<(W, Report)> {
    check_dir(upper)?;
    let mut writer = TreeWriter::new(out, options);
    walk(&mut writer, upper, None)?;
    writer.finish()
}

/// Store the layer `upper` holds as a gzip blob (Docker's layer format);
/// returns its descriptor and diff_id. An upper directory without any
/// change still gives a layer (an empty tar), as BuildKit and Docker's
/// builders add one for every RUN, COPY or ADD. The tar is hashed and
/// compressed as it is written: one pass, no temporary tar.
pub fn store_layer(store: &Store, upper: &Path, options: Options) -> Result<(Descriptor, Digest)> {
    let blob = store.ingest()?;
    let gzip = Compressor::new(Compression::Gzip, blob)?;
    let (tar, _) = write_layer(upper, DigestWriter::new(gzip), options)?;
    let (gzip, diff_id, _) = tar.finish();
    let blob = gzip
        .finish()
        .io_context(|| "compressing the layer".into())?;
    let (digest, size) = blob.commit(None)?;
    let descriptor = Descriptor::new(Compression::Gzip.oci_layer_media_type(), size, digest);
    Ok((descriptor, diff_id))
}

fn walk<W: Write>(writer: &mut TreeWriter<W>, dir: &Path, rel: Option<&[u8]>) -> Result<()> {
    for name in sorted_children(dir)? {
        let full = dir.join(&name);
        let child = path::join(rel, name.as_bytes());
        let meta =
            fs::symlink_metadata(&full).io_context(|| format!("reading {}", full.display()))?;
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            writer.whiteout(&child)?;
            continue;
        }
        if !writer.add(&full, &child, &meta)? || !meta.is_dir() {
            continue;
        }
        if is_opaque(&full) {
            writer.opaque(&child)?;
        }
        walk(writer, &full, Some(&child))?;
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    let mut value = [0u8; 8];
    matches!(rustix::fs::lgetxattr(dir, OVERLAY_OPAQUE, &mut value), Ok(1) if value[0] == b'y')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{self, Options as ExtractOptions};
    use std::io::Read;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                e.read_to_end(&mut Vec::new()).unwrap();
                name
            })
            .collect()
    }

    /// An upper directory as overlayfs leaves it after `rm /etc/old`,
    /// `rm -r /var; mkdir /var`, `echo > /etc/new`: converted to a layer,
    /// applied on the lower tree, it gives the merged tree.
    #[test]
    fn whiteouts_and_opaque_directories_become_oci_markers() {
        if !img_core::testing::need_root("whiteout devices and trusted.* attributes") {
            return;
        }
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        fs::create_dir_all(u.join("etc")).unwrap();
        fs::write(u.join("etc/new"), b"new\n").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            u.join("etc/old"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .unwrap();
        fs::create_dir(u.join("var")).unwrap();
        rustix::fs::lsetxattr(
            u.join("var"),
            OVERLAY_OPAQUE,
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        fs::write(u.join("var/kept"), b"k").unwrap();
        let (tar, _) = write_layer(u, Vec::new(), Options::default()).unwrap();
        assert_eq!(
            names(&tar),
            [
                "etc/",
                "etc/new",
                "etc/.wh.old",
                "var/",
                "var/.wh..wh..opq",
                "var/kept"
            ]
        );

        // Applied on the lower tree, the layer gives what the overlay showed.
        let lower = tempfile::tempdir().unwrap();
        let l = lower.path();
        fs::create_dir_all(l.join("etc")).unwrap();
        fs::write(l.join("etc/old"), b"old").unwrap();
        fs::write(l.join("etc/passwd"), b"root").unwrap();
        fs::create_dir_all(l.join("var/lib")).unwrap();
        extract::apply(&tar[..], l, &ExtractOptions::default()).unwrap();
        assert!(!l.join("etc/old").exists());
        assert!(l.join("etc/passwd").exists());
        assert_eq!(fs::read(l.join("etc/new")).unwrap(), b"new\n");
        assert!(!l.join("var/lib").exists());
        assert!(l.join("var/kept").exists());

        // Extracted in overlay form, it is the upper directory again.
        let again = tempfile::tempdir().unwrap();
        let options = ExtractOptions {
            overlay: true,
            ..ExtractOptions::default()
        };
        extract::apply(&tar[..], again.path(), &options).unwrap();
        let (tar2, _) = write_layer(again.path(), Vec::new(), Options::default()).unwrap();
        assert_eq!(names(&tar2), names(&tar));
        assert!(is_opaque(&again.path().join("var")));
    }

    #[test]
    fn an_untouched_upper_is_the_empty_layer() {
        let upper = tempfile::tempdir().unwrap();
        let (tar, _) = write_layer(upper.path(), Vec::new(), Options::default()).unwrap();
        // The diff_id every builder gives a step that changed nothing.
        assert_eq!(
            img_core::digest::of_bytes(&tar).to_string(),
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        );
    }
}

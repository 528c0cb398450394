//! `img-export CONTAINER`: a container's file system as one tar, as
//! `docker export` writes it — the image's layers, the init layer's mount
//! points and what the container changed, merged.
//!
//! The merge is the kernel's: a read-only overlay of the container's
//! writable layer (as the top lower layer: its whiteouts and opaque
//! directories hide what they hide), the init layer and the image's
//! snapshots, mounted in a mount namespace of the exporting thread's own —
//! never the running container's mount, and never over its upper
//! directory, which a running container's overlay is using.

use std::io::Write;

use img_container::{execute, overlay, Container};
use img_core::error::{IoContext, Result};
use img_layers::create::{Options, TreeWriter};
use img_store::Store;

/// Write `container`'s file system as a tar to `out`.
pub fn export<W: Write>(store: &Store, container: &Container, out: W) -> Result<W> {
    overlay::enter_private_namespace()?;
    let dir = img_container::Containers::of(store).dir_of(&container.id);
    let mut lowers = vec![dir.upper(), execute::init_layer(&dir)?];
    lowers.extend(img_container::containers::lowers(store, container)?);
    let target = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(dir.path())
        .io_context(|| format!("making a mount point in {}", dir.path().display()))?;
    overlay::mount_read_only(&lowers, target.path())?;
    let mut writer = TreeWriter::new(out, Options::default().excluding_stdout());
    let written = writer.add_children(target.path(), None);
    let _ = rustix::mount::unmount(target.path(), rustix::mount::UnmountFlags::DETACH);
    written?;
    Ok(writer.finish()?.0)
}

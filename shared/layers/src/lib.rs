//! # img-layers: the tar streams images are made of, and what img does with them
//!
//! * [`compression`]: gzip and zstd recognised by magic bytes; streaming
//!   readers and writers.
//! * [`whiteout`]: `.wh.NAME` and `.wh..wh..opq` as the OCI image spec
//!   defines them.
//! * [`check`]: what a layer may hold, checked wherever one comes in.
//! * [`ingest`]: a layer tar stream stored as it comes, checked and hashed.
//! * [`tarout`]: writing tar streams (the one home of tar's blocks), and
//!   entries with their metadata under new names.
//! * [`flatten`]: a stack of layers into one root filesystem tar, streamed.
//! * [`place`]: one entry of a layer made in a destination, through
//!   directory handles; what both unpackers below write with.
//! * [`extract`]: a layer applied to a directory, never writing outside it.
//! * [`rootfs`]: an image's layers written into one directory, in parallel,
//!   each path once (`img-export --output-dir`).
//! * [`create`]: a directory tree written as a reproducible layer tar.
//! * [`diff`]: the layer that turns one directory tree into another.
//! * [`upper`]: the layer an overlayfs upper directory holds.
//! * [`list`]: a layer's entries listed for a person, like `tar -tv`.
//! * [`stored`]: the layers of an image in the store, picked and written out.
//! * [`outbound`]: an image's uncompressed layers gzipped before it leaves
//!   the machine (a push, an exported build cache).
//! * [`unpack`]: a layer blob unpacked into the store's snapshots.
//! * [`export`]: `img-export`, an image's flattened root filesystem.
//! * [`layer`]: `img-layer`, each subcommand one call.
//!
//! Entry paths are cleaned by `img_core::path`, the one lexical cleaner.
//!
//! Layers are read as streams, never whole: memory stays bounded by the
//! number of paths in an image, not by its size.

#![warn(missing_docs)]

pub mod check;
pub mod compression;
pub mod create;
pub mod diff;
pub mod export;
pub mod extract;
pub mod flatten;
pub mod ingest;
pub mod layer;
pub mod list;
pub mod outbound;
pub(crate) mod place;
pub mod rootfs;
pub mod stored;
pub mod tarout;
#[cfg(test)]
mod test_layers;
pub mod unpack;
pub mod upper;
pub mod whiteout;

pub use compression::Compression;

/// A tar reader's error as one line: tar errors quote entry names, and a
/// hostile name may hold newlines or escape sequences.
pub fn one_line(error: &impl std::fmt::Display) -> String {
    error.to_string().escape_debug().to_string()
}

//! # img-runner: containers made from images
//!
//! What needs an image's bytes to make or show a container: [`run`]
//! (`img-run` and `img-create`: the image found, or pulled when missing,
//! its layers unpacked into the store's snapshots, the container made and
//! run in the foreground or under a monitor) and [`export`] (`img-export
//! CONTAINER`: a container's file system as one tar). Keeping and running
//! containers is `img_container`'s; this crate adds the registry and the
//! layers to it.

pub mod export;
pub mod run;

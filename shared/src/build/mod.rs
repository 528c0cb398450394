//! `img-build`'s pieces: what a Dockerfile's instructions do to an image.
//!
//! * [`copy`]: what COPY and ADD do to files — sources found in the build
//!   context (or another stage's root filesystem) as Docker finds them, and
//!   written into the root filesystem being built, never outside it.

pub mod copy;

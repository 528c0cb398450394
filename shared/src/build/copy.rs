//! What Dockerfile COPY and ADD do to files (being written: the pieces
//! first).

mod chmod;
mod pattern;
mod scoped;

pub use chmod::Chmod;

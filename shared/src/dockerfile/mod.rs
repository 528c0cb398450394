//! # The Dockerfile front end
//!
//! Reading a Dockerfile the way Docker's builder (BuildKit's Dockerfile
//! frontend) reads it, for a build executor to run. So far: the
//! shell-word expansion the builder applies to instruction arguments
//! ([`expand_word`], [`expand_words`]), heredocs ([`Heredoc`]), builder
//! flags, and the shapes arguments come in (JSON arrays, quoted words,
//! `name=value` pairs).

mod expand;
mod flags;
mod heredoc;
mod words;

pub use expand::{expand_word, expand_words, Vars};
pub use heredoc::Heredoc;

//! # The Dockerfile front end
//!
//! Reading a Dockerfile the way Docker's builder (BuildKit's Dockerfile
//! frontend) reads it, for a build executor to run. This first part is
//! the shell-word expansion the builder applies to instruction arguments:
//! `$VAR`, `${VAR:-word}` and the other forms of BuildKit's shell lexer,
//! with its quoting and word splitting ([`expand_word`], [`expand_words`]).

mod expand;

pub use expand::{expand_word, expand_words, Vars};

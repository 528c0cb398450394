//! img's integration tests: one test binary, one module per program.

mod docs;
mod login;
mod pull;
mod push;
mod search;
mod tag;

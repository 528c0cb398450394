//! img's integration tests: one test binary, one module per program.

mod docs;
mod pull;
mod tag;

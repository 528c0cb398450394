//! img's integration tests: one test binary, one module per program.

mod docs;
mod export;
mod import;
mod load;
mod save;
mod tag;

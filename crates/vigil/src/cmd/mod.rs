//! One module per subcommand.

pub mod accounts;
pub mod config;
pub mod demo;
pub mod hunt;
pub mod normalize;
pub mod rules;
pub mod search;
pub mod storage;
pub mod up;
pub mod validate;

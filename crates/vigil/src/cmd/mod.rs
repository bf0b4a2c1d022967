//! One module per subcommand.

pub mod accounts;
pub mod config;
pub mod demo;
pub mod explain;
pub mod hunt;
pub mod list;
pub mod normalize;
pub mod remote;
pub mod retroscan;
pub mod rules;
pub mod search;
pub mod storage;
pub mod up;
pub mod validate;

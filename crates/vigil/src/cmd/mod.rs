//! One module per subcommand.

pub mod config;
pub mod demo;
pub mod normalize;
pub mod search;
pub mod up;
pub mod validate;

//! `vigil config default|schema|reference`.

use anyhow::Result;

use crate::cli::{ConfigArgs, ConfigWhat};
use crate::exit;

pub fn run(args: ConfigArgs) -> Result<u8> {
    match args.what {
        ConfigWhat::Default => print!("{}", vigil_config::DEFAULT_CONFIG),
        ConfigWhat::Schema => println!(
            "{}",
            serde_json::to_string_pretty(&vigil_config::json_schema())?
        ),
        ConfigWhat::Reference => print!("{}", vigil_config::reference_markdown()),
    }
    Ok(exit::OK)
}

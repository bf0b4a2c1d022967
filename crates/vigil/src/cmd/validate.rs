//! `vigil validate -c FILE`: every problem in a configuration, with its path, without starting
//! anything.

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::{exit, topology};

pub fn run(args: ValidateArgs) -> Result<u8> {
    let cfg = match vigil_config::load_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(exit::USAGE);
        }
    };
    match topology::build(&cfg) {
        Ok(built) => {
            println!(
                "{}: OK ({} collector{})",
                args.config.display(),
                built.len(),
                if built.len() == 1 { "" } else { "s" }
            );
            Ok(exit::OK)
        }
        Err(problems) => {
            eprintln!(
                "{}: {} problem{}:",
                args.config.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            for p in problems {
                eprintln!("  - {}", p.replace('\n', "\n    "));
            }
            Ok(exit::USAGE)
        }
    }
}

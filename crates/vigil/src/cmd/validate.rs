//! `vigil validate -c FILE`: every problem in a configuration, with its path, without starting
//! anything. A ClickHouse store is asked whether it answers (nothing is created).

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
    let (collectors, mut problems) = match topology::build(&cfg) {
        Ok(built) => (built.len(), Vec::new()),
        Err(problems) => (0, problems),
    };
    if let Err(p) = crate::core_wiring::settings(&cfg) {
        problems.extend(p);
    }
    let store = match topology::check_storage(&cfg) {
        Ok(answered) => answered,
        Err(p) => {
            problems.push(p);
            None
        }
    };
    if problems.is_empty() {
        println!(
            "{}: OK ({} collector{}{})",
            args.config.display(),
            collectors,
            if collectors == 1 { "" } else { "s" },
            store.map(|s| format!("; {s} answers")).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
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

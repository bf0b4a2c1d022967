//! `vigil validate -c FILE`: every problem in a configuration, with its path, without starting
//! anything. Everything `vigil up` would build is built ([`topology::build`]: connectors with
//! their TLS material, normalizers, transforms, destinations, the correlator's rules, the API's
//! TLS material, storage spaces and secret files), but no socket is bound and nothing is
//! written. A ClickHouse store, and the database of each `sql` connector, is asked whether it
//! answers (nothing is created).

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
    let (collectors, mut problems) = match topology::build(&cfg, &vigil_pipeline::Telemetry::new())
    {
        Ok((built, rule_problems)) => (built.collectors.len(), rule_problems),
        Err(problems) => (0, problems),
    };
    if let Err(p) = crate::core_wiring::settings(&cfg) {
        problems.extend(p);
    }
    problems.extend(topology::check_databases(&cfg));
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

//! The runbook loader on arbitrary bytes: diagnostics, never a panic. The
//! runbook "lives" in a folder that does not exist, so relative `{file=…}`
//! includes fail to read, as they should; each environment's plan is built
//! from what loaded, as `runsheet run` would.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runsheet::runbook::loader::load_bytes;
use runsheet::runbook::plan::Plan;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/nonexistent/fuzz/runbook.md");
    let loaded = load_bytes(path, data);
    for d in &loaded.diagnostics {
        let _ = d.display(path).to_string();
    }
    if let Some(runbook) = &loaded.runbook {
        for env in &runbook.environments {
            let _ = Plan::for_environment(runbook, env);
        }
    }
});

//! Loading speed: a generated runbook of 5,000 steps over three
//! environments, every step kind, loaded repeatedly with `load_str`.
//!
//! Run with `cargo bench --bench load`; prints the minimum and median.

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use runsheet::runbook::loader::load_str;

const STEPS: usize = 5_000;
const RUNS: usize = 30;

fn runbook() -> String {
    let mut text = String::from(
        "+++\ntitle = \"Benchmark\"\n[environments.production]\nconfirm = true\nsignoffs = 2\nestimate = \"6h-8h\"\n+++\n\
         # Benchmark\n\nSome introduction with *emphasis* and `code`.\n\n",
    );
    let phases = ["Preparation", "Execution", "Validation", "Post-Deployment"];
    let per_phase = STEPS / 3 / phases.len() + 1;
    let mut n = 0;
    'envs: for env in ["Development", "Staging", "Production"] {
        let _ = write!(text, "## Deployment to {env}\n\n");
        for phase in phases {
            let _ = write!(text, "### {phase}\n\n");
            for i in 1..=per_phase {
                if n == STEPS {
                    break 'envs;
                }
                n += 1;
                // Continuation lines are indented to the item's content column.
                let p = " ".repeat(i.to_string().len() + 2);
                let _ = match n % 4 {
                    0 => write!(
                        text,
                        "{i}. Check the **state** of item {n}\n{p}```sql {{verify timeout=30s}}\n{p}select count(*) = 0 from t{n};\n{p}```\n\n"
                    ),
                    1 => write!(
                        text,
                        "{i}. Run the script for {n}\n{p}```sh {{timeout=10m}}\n{p}./run.sh --item {n}\n{p}echo done\n{p}```\n\n"
                    ),
                    2 => write!(
                        text,
                        "{i}. Notify [the team](https://example.com) about {n}\n{p}- by email\n{p}- in chat\n\n"
                    ),
                    _ => write!(
                        text,
                        "{i}. Review step {n}\n{p}```\n{p}reference.bat\n{p}```\n{p}Select option 2.\n\n"
                    ),
                };
            }
        }
    }
    text.push_str(
        "## Timeline\n\n| Environment | Estimated Duration |\n|---|---|\n| Production | 6-8 hours |\n",
    );
    text
}

fn main() {
    let text = runbook();
    let path = Path::new("bench.md");
    let loaded = load_str(path, &text);
    let rb = loaded.runbook.as_ref().expect("the generated runbook loads");
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        &loaded.diagnostics[..loaded.diagnostics.len().min(3)]
    );
    assert_eq!(rb.all_steps().count(), STEPS);

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let loaded = load_str(path, &text);
            let elapsed = start.elapsed();
            std::hint::black_box(loaded);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "load_str: {STEPS} steps, {} KiB, {RUNS} runs: min {:.2} ms, median {:.2} ms",
        text.len() / 1024,
        times[0].as_secs_f64() * 1e3,
        times[RUNS / 2].as_secs_f64() * 1e3
    );
}

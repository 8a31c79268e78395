//! In-process benchmarks (divan) of the paths every session goes through:
//! loading a 5,000-step runbook, folding a 1,000,000-event journal, drawing
//! one frame of a 5,000-step checklist at 200x60 on ratatui's TestBackend,
//! and appending to the journal (batched output, and a durable event).
//!
//! `cargo bench --bench paths` (the process-level comparisons against other
//! tools are `cargo bench --bench compare`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use divan::Bencher;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runsheet::journal::JournalSink;
use runsheet::journal::event::{Event, Record, Stream};
use runsheet::journal::file::FileJournal;
use runsheet::runbook::loader::load_str;
use runsheet::session::SessionState;
use runsheet::ui::{App, AppSetup, Theme, view};

use common::journals::{header, plan, session_records};

fn main() {
    divan::main();
}

const STEPS: usize = 5_000;

/// A generated runbook of 5,000 steps over three environments, every step
/// kind, with the Markdown a real plan has (emphasis, links, lists, tables).
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

static RUNBOOK: LazyLock<String> = LazyLock::new(|| {
    let text = runbook();
    let loaded = load_str(Path::new("bench.md"), &text);
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        &loaded.diagnostics[..loaded.diagnostics.len().min(3)]
    );
    let steps = loaded.runbook.as_ref().map_or(0, |rb| rb.all_steps().count());
    assert_eq!(steps, STEPS);
    text
});

/// Load (parse and check) the 5,000-step runbook (472 KiB).
#[divan::bench(sample_count = 30)]
fn load_5000_steps(bencher: Bencher) {
    let text = &*RUNBOOK;
    bencher.bench(|| load_str(Path::new("bench.md"), text));
}

/// A completed session of 5 phases of 8 steps with 1,000,000 output events.
static MILLION: LazyLock<Vec<Record>> = LazyLock::new(|| session_records(&plan(5, 8), 1_000_000));

/// Fold the 1,000,000-event session from its header to its end.
#[divan::bench(sample_count = 10)]
fn fold_1m_events(bencher: Bencher) {
    let records = &*MILLION;
    bencher.bench(|| SessionState::from_records(records).expect("a header"));
}

/// The checklist of a 5,000-step session (25 phases of 200 steps), halfway
/// through: the first half of its journal folded.
fn halfway_app(size: (u16, u16)) -> App {
    let records = session_records(&plan(25, 200), 20_000);
    let state = SessionState::from_records(&records[..records.len() / 2]).expect("a header");
    let now = state.last_event;
    App::new(
        state,
        AppSetup {
            operator: "bench".into(),
            references: Vec::new(),
            journal_path: PathBuf::from("/nonexistent/bench.jsonl"),
            theme: Theme::colored(),
            now,
            size,
            notices: Vec::new(),
        },
    )
}

/// Draw one frame of that checklist at 200x60.
#[divan::bench(sample_count = 100)]
fn draw_5000_step_checklist_200x60(bencher: Bencher) {
    let app = halfway_app((200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    bencher.bench_local(|| terminal.draw(|f| view(&app, f)).map(|_| ()).expect("draw"));
}

fn output_event(i: u64) -> Event {
    Event::Output {
        step: "4.2".into(),
        attempt: 1,
        stream: Stream::Stdout,
        lines: vec![format!("INSERT 0 1 -- migrated row {i}")],
    }
}

/// Append one output event to a file journal: batched, written every
/// 256 KiB or 100 ms, so the write and sync are shared among many.
#[divan::bench(sample_count = 100, sample_size = 10_000)]
fn journal_append_output(bencher: Bencher) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut journal = FileJournal::create(dir.path(), header(&plan(1, 1))).expect("create");
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        journal.append(output_event(i)).expect("append")
    });
}

/// Append one durable event: written and fsynced before `append` returns.
#[divan::bench(sample_count = 50)]
fn journal_append_durable(bencher: Bencher) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut journal = FileJournal::create(dir.path(), header(&plan(1, 1))).expect("create");
    bencher.bench_local(|| {
        let note = Event::Note {
            who: "bench".into(),
            text: "a durable note".into(),
        };
        journal.append(note).expect("append")
    });
}

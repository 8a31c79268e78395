//! The benchmark runner of issue 15: runsheet's release binary measured
//! against the tools a developer would compare it with, alternately in one
//! run on the same machine, and printed as the table of the README.
//!
//! ```sh
//! cargo bench --bench compare                    # 5 pairs per row, a few minutes
//! cargo bench --bench compare -- --pairs 11      # more pairs
//! cargo bench --bench compare -- --only sql,tui  # some rows: sql flood rss tui replay index journal
//! ```
//!
//! `cargo bench` builds the binary with the bench profile (the release
//! settings). Every row runs runsheet and its reference alternately (the
//! order flips from one pair to the next, so drift in the machine's load
//! hits both), reports the medians, and the ratio as the median of the
//! per-pair ratios. Peak RSS is the kernel's figure for the child process
//! (`wait4`), or VmHWM from /proc for the terminal runs. Scratch databases,
//! journals and runbooks get unique names and are removed at the end.
//!
//! References: `psql -f` of the same queries; the flood command writing to
//! a file; `asciinema rec` (installed with `pip install asciinema`, else
//! Debian's package, when missing); for replay, End/Home and the time to
//! index. The TUI and replay rows drive the real binary in a pseudo-terminal
//! and time from the key to the screen showing its result.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ScratchDb;
use common::journals::{EVENT_GAP_MS, plan, start_time, write_session};
use common::peak::{Measured, run_measured};
use common::pty::{Tui, vm_hwm_kb};
use common::runsheet::Fixture;

/// Terminal size of the TUI and replay rows.
const SIZE: (u16, u16) = (120, 40);
/// Replay runs wide: the log pane is the whole right column (over 50 rows,
/// more than the fold keeps of a step), so a seek reads its lines back.
const REPLAY_SIZE: (u16, u16) = (200, 60);
const MIB: f64 = 1024.0;

/// The rows the runner knows, in the order it prints them.
const SECTIONS: [&str; 7] = ["sql", "flood", "rss", "tui", "replay", "index", "journal"];

struct Options {
    pairs: usize,
    only: Vec<String>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            pairs: 5,
            only: SECTIONS.iter().map(|s| s.to_string()).collect(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--pairs" => {
                    options.pairs = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n >= 1)
                        .expect("--pairs N: a number of pairs, at least 1");
                }
                "--only" => {
                    let only = args.next().expect("--only SECTION,…");
                    options.only = only.split(',').map(str::to_string).collect();
                    for s in &options.only {
                        assert!(
                            SECTIONS.contains(&s.as_str()),
                            "unknown section {s}: {SECTIONS:?}"
                        );
                    }
                }
                // cargo bench passes --bench to every bench; nothing else is ours.
                "--bench" => {}
                other => panic!("unknown argument {other}; use --pairs N and --only {SECTIONS:?}"),
            }
        }
        options
    }

    fn runs(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
}

/// One line of the table.
struct Row {
    what: String,
    runsheet: String,
    reference: String,
    ratio: String,
    target: String,
    met: bool,
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1e3)
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / MIB)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn median_time(samples: &[Duration]) -> Duration {
    Duration::from_secs_f64(median(samples.iter().map(Duration::as_secs_f64).collect()))
}

/// Median of the per-pair ratios a/b.
fn median_ratio(a: &[Duration], b: &[Duration]) -> f64 {
    median(
        a.iter()
            .zip(b)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64().max(1e-9))
            .collect(),
    )
}

/// Run each of `runs` once per round, `pairs` rounds, in an order that
/// flips every round; the durations of each.
fn alternate<const N: usize>(
    pairs: usize,
    runs: &mut [&mut dyn FnMut() -> Duration; N],
) -> [Vec<Duration>; N] {
    let mut out: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(pairs));
    for round in 0..pairs {
        for k in 0..N {
            let i = if round % 2 == 0 { k } else { N - 1 - k };
            out[i].push(runs[i]());
        }
    }
    out
}

fn progress(message: impl AsRef<str>) {
    eprintln!("compare: {}", message.as_ref());
}

/// A child run to its end that must succeed.
fn measured(what: &str, cmd: &mut Command) -> Measured {
    let m = run_measured(cmd);
    assert!(
        m.status.success(),
        "{what} failed ({}): {}{}",
        m.status,
        String::from_utf8_lossy(&m.stdout),
        String::from_utf8_lossy(&m.stderr)
    );
    m
}

/// The reference of the flood rows: the step's own command, run by bash
/// as runsheet runs it, writing to a file.
fn flood_to_file(lines: usize, file: &Path) -> Duration {
    let script = format!("seq {lines} > '{}'", file.display());
    measured(
        "seq to a file",
        Command::new("bash").arg("-c").arg(script).stdin(Stdio::null()),
    )
    .wall
}

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What the figures were measured on.
fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |m| m.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / MIB / MIB);
    let commit = output_of("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        output_of("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let mut out = String::new();
    let _ = writeln!(out, "- date: {} UTC", chrono::Utc::now().format("%Y-%m-%d %H:%M"));
    let _ = writeln!(
        out,
        "- machine: {cpu}, {cores} cores, {mem_gib:.1} GiB RAM, Linux {}; load average at the start {}",
        read("/proc/sys/kernel/osrelease").trim(),
        read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        out,
        "- runsheet {} at {commit}{}, bench profile (release settings); {}",
        env!("CARGO_PKG_VERSION"),
        if dirty { " (uncommitted changes)" } else { "" },
        output_of("rustc", &["-V"]).unwrap_or_default()
    );
    let server = output_of(
        "psql",
        &[
            "-X",
            "-A",
            "-t",
            "-d",
            &common::server_url(),
            "-c",
            "show server_version",
        ],
    );
    let _ = write!(
        out,
        "- {}, PostgreSQL server {}; {}",
        output_of("psql", &["--version"]).unwrap_or_default(),
        server.unwrap_or_else(|| "unreachable".into()),
        output_of(&asciinema(), &["--version"]).unwrap_or_default()
    );
    out
}

/// The asciinema executable itself (not a version manager's shim, whose
/// start-up would be charged to the reference), installed when missing.
fn asciinema() -> String {
    let found = || {
        output_of("pyenv", &["which", "asciinema"])
            .or_else(|| output_of("bash", &["-c", "command -v asciinema"]))
            .filter(|p| !p.is_empty())
    };
    if let Some(path) = found() {
        return path;
    }
    progress("asciinema is missing: pip install asciinema (else apt-get install asciinema)");
    let pip = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "asciinema"])
        .status();
    if !pip.is_ok_and(|s| s.success()) {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "asciinema"])
            .status();
    }
    let _ = Command::new("pyenv").arg("rehash").status();
    found().expect("asciinema could not be installed")
}

fn sql_rows(options: &Options) -> Vec<Row> {
    const CHECKS: usize = 200;
    let db = ScratchDb::create("compare_sql");
    let query = |n: usize| format!("SELECT count(*) = 0 FROM pg_class WHERE relname = 'compare_absent_{n}';");
    let mut runbook = format!(
        "+++\ntitle = \"Two hundred checks\"\n[environments.development]\ndatabase = \"{}\"\n+++\n\
         # Two hundred checks\n\n## Development\n\n### Validation\n\n",
        db.url
    );
    let mut script = String::new();
    for n in 1..=CHECKS {
        let pad = " ".repeat(n.to_string().len() + 2);
        let _ = write!(
            runbook,
            "{n}. Table {n} is absent\n{pad}```sql {{verify}}\n{pad}{}\n{pad}```\n\n",
            query(n)
        );
        let _ = writeln!(script, "{}", query(n));
    }
    let fixture = Fixture::new(&runbook);
    let queries = fixture.dir.path().join("queries.sql");
    std::fs::write(&queries, script).expect("write the queries");
    let runbook_path = fixture.runbook();
    let runbook_arg = runbook_path.to_str().expect("a UTF-8 path");
    progress(format!(
        "{CHECKS} SQL checks, headless vs psql -f, {} pairs",
        options.pairs
    ));
    let [headless, psql] = alternate(
        options.pairs,
        &mut [
            &mut || {
                let m = measured(
                    "runsheet run --headless (SQL checks)",
                    fixture
                        .command(&["run", runbook_arg, "--headless"])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped()),
                );
                let passes = String::from_utf8_lossy(&m.stdout).matches(" PASS ").count();
                assert_eq!(passes, CHECKS, "every check must pass");
                m.wall
            },
            &mut || {
                measured(
                    "psql -f",
                    Command::new("psql")
                        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
                        .arg(&queries)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped()),
                )
                .wall
            },
        ],
    );
    let ratio = median_ratio(&headless, &psql);
    vec![Row {
        what: format!("{CHECKS} `{{verify}}` SQL steps, headless"),
        runsheet: ms(median_time(&headless)),
        reference: format!("`psql -f` of the same queries {}", ms(median_time(&psql))),
        ratio: format!("{ratio:.1}x"),
        target: "≤ 1.3x".into(),
        met: ratio <= 1.3,
    }]
}

/// A one-step runbook whose step prints `lines` short lines.
fn flood_fixture(lines: usize) -> Fixture {
    Fixture::new(&format!(
        "# Flood\n\n## Development\n\n### Execution\n\n1. Flood\n   ```sh\n   seq {lines}\n   ```\n"
    ))
}

/// A headless run of the flood, its lines written to `out`.
fn headless_flood(fixture: &Fixture, out: &Path) -> Measured {
    let runbook = fixture.runbook();
    let file = std::fs::File::create(out).expect("create the output file");
    let m = measured(
        "runsheet run --headless (flood)",
        fixture
            .command(&["run", runbook.to_str().expect("a UTF-8 path"), "--headless"])
            .stdout(file)
            .stderr(Stdio::piped()),
    );
    // Each run is a new session: drop its journal so the disk does not fill.
    let _ = std::fs::remove_dir_all(fixture.state_dir());
    m
}

const FLOOD: usize = 2_000_000;

fn flood_rows(options: &Options, scratch: &Path) -> (Vec<Row>, Vec<u64>) {
    let fixture = flood_fixture(FLOOD);
    let asciinema = asciinema();
    let (out, file, cast) = (
        scratch.join("headless.out"),
        scratch.join("seq.out"),
        scratch.join("seq.cast"),
    );
    let mut peaks = Vec::new();
    progress(format!(
        "headless flood of {FLOOD} lines vs the command to a file vs asciinema rec, {} rounds",
        options.pairs
    ));
    let seq = format!("seq {FLOOD}");
    let [headless, to_file, recorded] = alternate(
        options.pairs,
        &mut [
            &mut || {
                let m = headless_flood(&fixture, &out);
                peaks.push(m.peak_kb);
                m.wall
            },
            &mut || flood_to_file(FLOOD, &file),
            &mut || {
                measured(
                    "asciinema rec",
                    Command::new(&asciinema)
                        .args(["rec", "--overwrite", "-q", "-c", &seq])
                        .arg(&cast)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped()),
                )
                .wall
            },
        ],
    );
    for f in [&out, &file, &cast] {
        let _ = std::fs::remove_file(f);
    }
    let vs_file = median_ratio(&headless, &to_file);
    let vs_asciinema = median_ratio(&headless, &recorded);
    let rows = vec![
        Row {
            what: "headless flood, 2M short lines".into(),
            runsheet: ms(median_time(&headless)),
            reference: format!("the command writing to a file {}", ms(median_time(&to_file))),
            ratio: format!("{vs_file:.1}x"),
            target: "≤ 1.5x".into(),
            met: vs_file <= 1.5,
        },
        Row {
            what: "headless flood vs `asciinema rec`".into(),
            runsheet: ms(median_time(&headless)),
            reference: format!(
                "{} {}",
                output_of(&asciinema, &["--version"]).unwrap_or_default(),
                ms(median_time(&recorded))
            ),
            ratio: format!("{vs_asciinema:.2}x"),
            target: "< 1x".into(),
            met: vs_asciinema < 1.0,
        },
    ];
    (rows, peaks)
}

/// Peak RSS of the headless flood at 2M lines (from the flood rows when
/// they ran) and at 10M: bounded and flat (the 10M peak within a quarter of
/// the 2M one).
fn rss_row(scratch: &Path, peaks_2m: Vec<u64>) -> Row {
    let out = scratch.join("headless-rss.out");
    let peak_2m = if peaks_2m.is_empty() {
        progress(format!("headless peak RSS at {FLOOD} lines"));
        headless_flood(&flood_fixture(FLOOD), &out).peak_kb
    } else {
        peaks_2m.into_iter().max().unwrap_or(0)
    };
    progress("headless peak RSS at 10M lines");
    let peak_10m = headless_flood(&flood_fixture(10_000_000), &out).peak_kb;
    let _ = std::fs::remove_file(&out);
    let limit = 64 * 1024;
    Row {
        what: "headless peak RSS".into(),
        runsheet: format!("{} at 2M lines, {} at 10M", mib(peak_2m), mib(peak_10m)),
        reference: "—".into(),
        ratio: format!("{:.2}x (10M/2M)", peak_10m as f64 / peak_2m.max(1) as f64),
        target: "≤ 64 MiB, flat".into(),
        met: peak_2m <= limit && peak_10m <= limit && peak_10m * 4 <= peak_2m * 5,
    }
}

fn tui_rows(options: &Options, scratch: &Path) -> Vec<Row> {
    let file = scratch.join("tui-seq.out");
    let mut peaks = Vec::new();
    progress(format!(
        "TUI flood of {FLOOD} lines vs the command to a file, {} pairs",
        options.pairs
    ));
    let [tui, to_file] = alternate(
        options.pairs,
        &mut [
            &mut || {
                let fixture = flood_fixture(FLOOD);
                let (runbook, state) = (fixture.runbook(), fixture.state_dir());
                let args = [
                    "--state-dir",
                    state.to_str().expect("a UTF-8 path"),
                    "run",
                    runbook.to_str().expect("a UTF-8 path"),
                ];
                let mut tui = Tui::spawn(&args, fixture.dir.path(), SIZE.0, SIZE.1);
                tui.wait_text("Checklist 0/1");
                tui.keys("r");
                let took = tui.wait_text("SESSION COMPLETED");
                peaks.push(vm_hwm_kb(tui.pid()));
                tui.keys("q");
                assert_eq!(tui.exit_code(), 0, "the TUI quits cleanly");
                took
            },
            &mut || flood_to_file(FLOOD, &file),
        ],
    );
    let _ = std::fs::remove_file(&file);
    let ratio = median_ratio(&tui, &to_file);
    let peak = peaks.into_iter().max().unwrap_or(0);
    vec![
        Row {
            what: "TUI flood, 2M lines, run → completed".into(),
            runsheet: ms(median_time(&tui)),
            reference: format!("file {}", ms(median_time(&to_file))),
            ratio: format!("{ratio:.1}x"),
            target: "≤ 2x".into(),
            met: ratio <= 2.0,
        },
        Row {
            what: "TUI peak RSS through that flood".into(),
            runsheet: mib(peak),
            reference: "—".into(),
            ratio: "—".into(),
            target: "≤ 64 MiB".into(),
            met: peak <= 64 * 1024,
        },
    ]
}

const REPLAY_OUTPUT: usize = 1_000_000;

/// The replay journal: one step with 1M output events, so the log pane at
/// any time near the end has a long step's output behind it.
struct ReplayJournal {
    path: PathBuf,
    events: usize,
}

impl ReplayJournal {
    fn write(scratch: &Path) -> ReplayJournal {
        let path = scratch.join("replay-1m.jsonl");
        progress("writing a 1M-event journal for replay");
        let events = write_session(&path, &plan(1, 1), REPLAY_OUTPUT);
        ReplayJournal { path, events }
    }

    fn open(&self) -> Tui {
        let path = self.path.to_str().expect("a UTF-8 path");
        let dir = self.path.parent().expect("a folder");
        let mut tui = Tui::spawn(&["replay", path], dir, REPLAY_SIZE.0, REPLAY_SIZE.1);
        tui.deadline = Duration::from_secs(120);
        tui
    }

    /// The info line's "event N of all" for the last event, once indexed.
    fn at_end(&self) -> String {
        format!("#{n} of {n} ", n = thousands(self.events))
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time at `percent` % of the replay journal, to the second, and what the
/// screen shows once a seek there is complete: the time in the bar, and the
/// log pane filled with the step's lines of that moment (event k is at
/// (k + 1) * EVENT_GAP_MS and holds output line k - 2; matched to the ten,
/// whichever event of that second is shown), no line still being read.
fn moment(journal: &ReplayJournal, percent: i64) -> (String, String, String) {
    let span_ms = journal.events as i64 * EVENT_GAP_MS;
    let at_ms = span_ms * percent / 100 / 1000 * 1000;
    let time = (start_time() + chrono::Duration::milliseconds(at_ms))
        .format("%H:%M:%S")
        .to_string();
    let shown = format!("{} {time}", start_time().format("%Y-%m-%d"));
    let line = format!("migrated row {}", (at_ms / EVENT_GAP_MS - 3) / 10);
    (time, shown, line)
}

/// What the log pane shows in place of a line still being read back.
const READING: &str = "is being read from the journal";

/// Press `g`, type the time, Enter: how long until the screen shows it.
fn go_to_time(tui: &mut Tui, (time, shown, line): &(String, String, String)) -> Duration {
    tui.keys("g");
    tui.wait_text("HH:MM");
    tui.keys(time);
    tui.keys("\r");
    tui.wait(&format!("{shown} and {line}…"), |s| {
        let text = s.contents();
        text.contains(shown.as_str()) && text.contains(line.as_str()) && !text.contains(READING)
    })
}

/// The last event on screen, with the step's last lines in the log pane.
fn shows_end(journal: &ReplayJournal, s: &vt100::Screen) -> bool {
    let text = s.contents();
    text.contains(&journal.at_end())
        && text.contains(&format!("migrated row {} of", REPLAY_OUTPUT - 1))
        && !text.contains(READING)
}

fn replay_rows(options: &Options, journal: &ReplayJournal) -> Vec<Row> {
    let (near_end, near_start) = (moment(journal, 99), moment(journal, 1));
    let mut tui = journal.open();
    tui.wait_text("chain verified");
    progress(format!(
        "replay: g {} and g {} vs End and Home, {} rounds",
        near_end.0, near_start.0, options.pairs
    ));
    let (mut late, mut early, mut ends, mut homes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.pairs {
        early.push(go_to_time(&mut tui, &near_start));
        late.push(go_to_time(&mut tui, &near_end));
        tui.keys("\x1b[F");
        ends.push(tui.wait("the end", |s| shows_end(journal, s)));
        tui.keys("\x1b[H");
        homes.push(tui.wait_text("#1 of "));
    }
    tui.keys("q");
    let _ = tui.exit_code();
    let (late, early, end, home) = (
        median_time(&late),
        median_time(&early),
        median_time(&ends),
        median_time(&homes),
    );
    let worst = late.max(early).max(end);
    vec![Row {
        what: format!(
            "replay: `g` to a time near the end ({}, 99 %) of a 1M-event journal, log pane filled ({}x{})",
            near_end.0, REPLAY_SIZE.0, REPLAY_SIZE.1
        ),
        runsheet: ms(late),
        reference: format!("Home {}, End {}, `g` to 1 % {}", ms(home), ms(end), ms(early)),
        ratio: format!("{:.1}x (vs `g` to 1 %)", median_ratio(&[late], &[early])),
        target: "≤ 50 ms anywhere".into(),
        met: worst <= Duration::from_millis(50),
    }]
}

/// How long End pressed during indexing may take before the runner gives
/// up on that row (it has been seen to take minutes at 200x60).
const INDEX_GIVE_UP: Duration = Duration::from_secs(60);

fn index_rows(options: &Options, journal: &ReplayJournal) -> Vec<Row> {
    progress(format!(
        "replay: End pressed while indexing vs the time to index, {} pairs (giving up after {}s)",
        options.pairs,
        INDEX_GIVE_UP.as_secs()
    ));
    let mut gave_up = false;
    let [pressed, indexed] = alternate(
        options.pairs,
        &mut [
            &mut || {
                if gave_up {
                    return INDEX_GIVE_UP;
                }
                let mut tui = journal.open();
                tui.wait_text(" REPLAY ");
                tui.keys("\x1b[F");
                let took = tui.wait_within(INDEX_GIVE_UP, |s| {
                    shows_end(journal, s) && s.contents().contains("chain verified")
                });
                tui.keys("q");
                took.unwrap_or_else(|| {
                    gave_up = true;
                    INDEX_GIVE_UP
                })
            },
            &mut || {
                let mut tui = journal.open();
                tui.wait_text(" REPLAY ");
                let took = tui.wait_text("chain verified");
                tui.keys("q");
                let _ = tui.exit_code();
                took
            },
        ],
    );
    let (p, i) = (median_time(&pressed), median_time(&indexed));
    vec![Row {
        what: format!(
            "replay: End pressed while the index is still being built ({}x{})",
            REPLAY_SIZE.0, REPLAY_SIZE.1
        ),
        runsheet: if gave_up {
            format!("> {} s (gave up)", INDEX_GIVE_UP.as_secs())
        } else {
            ms(p)
        },
        reference: format!("{} to index", ms(i)),
        ratio: format!(
            "{}{:.1}x",
            if gave_up { "> " } else { "" },
            median_ratio(&pressed, &indexed)
        ),
        target: "≤ 50 ms after indexing, never slower than indexing".into(),
        met: !gave_up && p <= i + Duration::from_millis(50),
    }]
}

fn journal_rows(options: &Options, scratch: &Path) -> Vec<Row> {
    let path = scratch.join("big.jsonl");
    progress("writing a ~222 MB journal");
    let events = write_session(&path, &plan(5, 8), 960_000);
    let size = std::fs::metadata(&path).expect("journal size").len();
    let report = scratch.join("big-report.json");
    progress(format!("verify and report of it, {} pairs", options.pairs));
    let (mut verify_peak, mut report_peak) = (0, 0);
    let binary = env!("CARGO_BIN_EXE_runsheet");
    let [verify, reported] = alternate(
        options.pairs,
        &mut [
            &mut || {
                let m = measured(
                    "runsheet verify",
                    Command::new(binary)
                        .arg("verify")
                        .arg(&path)
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped()),
                );
                let said = String::from_utf8_lossy(&m.stdout);
                assert!(said.contains(&format!("verified: {events} events")), "{said}");
                verify_peak = verify_peak.max(m.peak_kb);
                m.wall
            },
            &mut || {
                let m = measured(
                    "runsheet report",
                    Command::new(binary)
                        .arg("report")
                        .arg(&path)
                        .arg("-o")
                        .arg(&report)
                        .stderr(Stdio::piped()),
                );
                report_peak = report_peak.max(m.peak_kb);
                m.wall
            },
        ],
    );
    let limit = 64 * 1024;
    vec![Row {
        what: format!("`verify` / `report` of a {:.0} MB journal", size as f64 / 1e6),
        runsheet: format!(
            "{} / {} RSS ({} / {})",
            mib(verify_peak),
            mib(report_peak),
            ms(median_time(&verify)),
            ms(median_time(&reported))
        ),
        reference: "—".into(),
        ratio: "—".into(),
        target: "≤ 64 MiB".into(),
        met: verify_peak <= limit && report_peak <= limit,
    }]
}

fn main() {
    let options = Options::parse();
    let scratch = tempfile::Builder::new()
        .prefix("runsheet-compare-")
        .tempdir()
        .expect("a scratch folder");
    let machine = machine();
    progress(format!("scratch folder {}", scratch.path().display()));
    let mut rows = Vec::new();
    if options.runs("sql") {
        rows.extend(sql_rows(&options));
    }
    let mut peaks = Vec::new();
    if options.runs("flood") {
        let (flood, p) = flood_rows(&options, scratch.path());
        rows.extend(flood);
        peaks = p;
    }
    if options.runs("rss") {
        rows.push(rss_row(scratch.path(), peaks));
    }
    if options.runs("tui") {
        rows.extend(tui_rows(&options, scratch.path()));
    }
    if options.runs("replay") || options.runs("index") {
        let journal = ReplayJournal::write(scratch.path());
        if options.runs("replay") {
            rows.extend(replay_rows(&options, &journal));
        }
        if options.runs("index") {
            rows.extend(index_rows(&options, &journal));
        }
    }
    if options.runs("journal") {
        rows.extend(journal_rows(&options, scratch.path()));
    }

    println!("{machine}");
    println!(
        "- medians of {} pairs run alternately; ratio = median of the per-pair ratios; load average at the end {}",
        options.pairs,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!("| what | runsheet | reference | ratio | target | |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            r.runsheet,
            r.reference,
            r.ratio,
            r.target,
            if r.met { "met" } else { "**missed**" }
        );
    }
}

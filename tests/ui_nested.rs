//! The checklist of a runbook written the way teams write them: nested
//! heading groups (collapsible), sub-steps drawn under their parent, and
//! the detail pane with a step's notes and expected output. Drawn on
//! ratatui's `TestBackend` from the real loader's plan.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runsheet::journal::event::{Event, FORMAT_VERSION, Header, Mode, Record};
use runsheet::runbook::loader;
use runsheet::runbook::plan::Plan;
use runsheet::session::SessionState;
use runsheet::ui::{App, AppSetup, Msg, Theme, view};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shapes/nested-groups.md")
}

fn app(size: (u16, u16)) -> App {
    let loaded = loader::load(&fixture()).expect("readable");
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let rb = loaded.runbook.expect("a runbook");
    let env = &rb.environments[0];
    let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("time");
    let header = Header {
        format: FORMAT_VERSION,
        session_id: "20250301-090000-n3st".to_string(),
        runbook_path: fixture().display().to_string(),
        runbook_sha256: rb.content_hash.clone(),
        environment: env.name.clone(),
        mode: Mode::Live,
        operator: "alice".to_string(),
        host: "ops-laptop".to_string(),
        seat: None,
        runsheet_version: "0.1.0".to_string(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: Plan::for_environment(&rb, env),
        team_journal: None,
    };
    let records = vec![Record {
        seq: 0,
        ts: t0,
        event: Event::Header(Box::new(header)),
        origin: None,
    }];
    let state = SessionState::from_records(&records).expect("a session");
    App::new(
        state,
        AppSetup {
            operator: "alice".to_string(),
            references: Vec::new(),
            journal_path: PathBuf::from("/nonexistent/journal.jsonl"),
            theme: Theme::monochrome(),
            now: t0,
            size,
            notices: Vec::new(),
        },
    )
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("terminal");
    terminal.draw(|f| view(app, f)).expect("draw");
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

#[test]
fn groups_nest_and_sub_steps_sit_under_their_parent() {
    let mut app = app((120, 40));
    insta::assert_snapshot!("nested_checklist", screen(&app));

    // The cursor starts on the first step; go up to the "Upgrade" group and collapse it.
    for _ in 0..3 {
        press(&mut app, KeyCode::Up);
    }
    press(&mut app, KeyCode::Enter);
    let collapsed = screen(&app);
    assert!(collapsed.contains("▸ Upgrade"), "{collapsed}");
    for hidden in ["Control plane", "Workers", "Check the API server answers"] {
        assert!(!collapsed.contains(hidden), "{hidden} still shown:\n{collapsed}");
    }
    assert!(collapsed.contains("▾ Verify"), "{collapsed}");
    press(&mut app, KeyCode::Enter);
    assert!(screen(&app).contains("Check the API server answers"));
}

#[test]
fn the_detail_pane_shows_notes_and_expected_output() {
    let mut app = app((120, 60));
    // The cursor starts on the first step; three rows down is the Workers group.
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    let workers = screen(&app);
    for words in ["┌ Phase", "▌ One at a time", "▌ Draining two workers at once"] {
        assert!(workers.contains(words), "{words:?} missing:\n{workers}");
    }
    // Three more: "Upgrade the kubelet", the last sub-step of the workers.
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    let kubelet = screen(&app);
    for words in [
        "┌ workers.1.2 ",
        "sub-step of workers.1",
        "Command (bash)",
        "  sudo apt-get install -y kubelet=1.30.2-1.1",
        "Expected output (as the runbook shows it)",
        "  Setting up kubelet (1.30.2-1.1) ...",
    ] {
        assert!(kubelet.contains(words), "{words:?} missing:\n{kubelet}");
    }
}

//! The replay's keys: one table that the key handler, the `?` overlay and
//! `docs/keys.md` all read. Keys the table does not claim go to the live
//! checklist's own handler only when they merely look around (scroll,
//! focus, search the log); nothing that would act on a session gets there.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::index::Mark;
use crate::ui::keys::{self, Action, Context, Key};

/// What a replay key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    PlayPause,
    Faster,
    Slower,
    Next,
    Prev,
    NextMark(Mark),
    PrevMark(Mark),
    GoTo,
    Start,
    End,
    /// The checklist cursor and the log follow the active step again.
    Follow,
    Help,
    Quit,
}

/// One line of the replay's key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub control: Control,
    pub help: &'static str,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn bind(keys: &'static [Key], control: Control, help: &'static str) -> Binding {
    Binding { keys, control, help }
}

/// Every key of the replay's timeline.
pub const BINDINGS: &[Binding] = &[
    bind(&[ch(' ')], Control::PlayPause, "play / pause"),
    bind(
        &[ch('+'), ch('=')],
        Control::Faster,
        "faster: 1x, 2x, 10x, 100x, instant (no waiting: one state change at a time); idle gaps over 5 s always play as 5 s",
    ),
    bind(&[ch('-'), ch('_')], Control::Slower, "slower"),
    bind(
        &[code(KeyCode::Right), ch('l')],
        Control::Next,
        "one event forward (pauses)",
    ),
    bind(
        &[code(KeyCode::Left), ch('h')],
        Control::Prev,
        "one event back (pauses)",
    ),
    bind(&[ch(']')], Control::NextMark(Mark::StepStart), "next step start"),
    bind(
        &[ch('[')],
        Control::PrevMark(Mark::StepStart),
        "previous step start",
    ),
    bind(&[ch('}')], Control::NextMark(Mark::Phase), "next phase"),
    bind(&[ch('{')], Control::PrevMark(Mark::Phase), "previous phase"),
    bind(
        &[ch('f')],
        Control::NextMark(Mark::Failure),
        "next failure: a step failed, timed out, cancelled or interrupted, or a check failed",
    ),
    bind(&[ch('F')], Control::PrevMark(Mark::Failure), "previous failure"),
    bind(&[ch('s')], Control::NextMark(Mark::SignOff), "next sign-off"),
    bind(&[ch('S')], Control::PrevMark(Mark::SignOff), "previous sign-off"),
    bind(
        &[ch('v')],
        Control::NextMark(Mark::Verification),
        "next verification result",
    ),
    bind(
        &[ch('V')],
        Control::PrevMark(Mark::Verification),
        "previous verification result",
    ),
    bind(
        &[ch('g')],
        Control::GoTo,
        "go to a time: HH:MM[:SS] (the nearest such time) or YYYY-MM-DD HH:MM[:SS], in UTC like the journal",
    ),
    bind(&[code(KeyCode::Home)], Control::Start, "the first event"),
    bind(
        &[code(KeyCode::End)],
        Control::End,
        "the last event; stays at the end as the journal grows",
    ),
    bind(
        &[ch('.')],
        Control::Follow,
        "checklist cursor and log follow the active step again",
    ),
    bind(&[ch('?')], Control::Help, "this list of keys"),
    bind(
        &[
            ch('q'),
            Key {
                code: KeyCode::Char('c'),
                mods: KeyModifiers::CONTROL,
            },
        ],
        Control::Quit,
        "quit",
    ),
];

/// What the mouse does in a replay.
pub const MOUSE: &[(&str, &str)] = &[
    ("Click on the timeline", "go to that moment"),
    (
        "Click, wheel elsewhere",
        "as in the live checklist: select a row, focus or scroll a pane",
    ),
];

/// Keys of the `g` prompt.
pub const PROMPT: &[(&str, &str)] = &[("Enter", "go there"), ("Esc", "cancel")];

/// The timeline control of a key, if it is one.
pub fn control(ev: &KeyEvent) -> Option<Control> {
    BINDINGS
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.control)
}

/// Live-checklist actions that only change what is looked at.
fn looks_only(action: Action) -> bool {
    matches!(
        action,
        Action::FocusNext
            | Action::FocusPrev
            | Action::References
            | Action::Follow
            | Action::ShowLog
            | Action::ShowChecks
            | Action::Search
            | Action::SearchNext
            | Action::SearchPrev
            | Action::Wrap
            | Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
            | Action::Toggle
            | Action::Collapse
            | Action::Expand
    )
}

/// The live checklist's actions for a key, with the checklist focused and not.
fn live_actions(ev: &KeyEvent) -> [Option<Action>; 2] {
    [
        keys::action(&[Context::Checklist, Context::Navigate, Context::Global], ev),
        keys::action(&[Context::Navigate, Context::Global], ev),
    ]
}

/// Whether a key not claimed by the timeline goes to the live checklist's
/// handler: only if whatever it does there merely looks around.
pub fn passes_through(ev: &KeyEvent) -> bool {
    control(ev).is_none() && looks_around(ev)
}

/// Whether a key of the live checklist merely looks around there (moves,
/// scrolls, opens a pane): what any read-only view of it lets through.
pub fn looks_around(ev: &KeyEvent) -> bool {
    let actions = live_actions(ev);
    actions.iter().any(Option::is_some) && actions.iter().flatten().all(|a| looks_only(*a))
}

/// Whether a key would act on the session in the live checklist (run, sign,
/// skip…): the replay says it is read-only.
pub fn is_live_action(ev: &KeyEvent) -> bool {
    control(ev).is_none() && acts(ev)
}

/// Whether a key acts on the session in the live checklist, whatever the replay binds it to.
pub fn acts(ev: &KeyEvent) -> bool {
    live_actions(ev).iter().flatten().any(|a| !looks_only(*a))
}

/// A key of the keys overlay: the new scroll, or `None` to close it.
pub fn help_key(scroll: u16, ev: &KeyEvent) -> Option<u16> {
    match ev.code {
        KeyCode::Esc | KeyCode::Char('q' | '?') => None,
        KeyCode::Up | KeyCode::Char('k') => Some(scroll.saturating_sub(1)),
        KeyCode::Down | KeyCode::Char('j') => Some(scroll.saturating_add(1)),
        KeyCode::PageUp => Some(scroll.saturating_sub(10)),
        KeyCode::PageDown | KeyCode::Char(' ') => Some(scroll.saturating_add(10)),
        KeyCode::Home => Some(0),
        _ => Some(scroll),
    }
}

/// A section of the key list: a title and (keys, what they do).
pub type Section = (&'static str, Vec<(String, String)>);

/// The replay's keys as the overlay and the docs list them: the timeline,
/// the live checklist's keys that work here, the prompt, the mouse.
pub fn sections() -> Vec<Section> {
    let label = |keys: &[Key]| keys.iter().map(|k| k.label()).collect::<Vec<_>>().join(" / ");
    let timeline = BINDINGS
        .iter()
        .map(|b| (label(b.keys), b.help.to_string()))
        .collect();
    let mut looking = Vec::new();
    for context in [Context::Global, Context::Navigate, Context::Checklist] {
        for b in keys::bindings(context).filter(|b| looks_only(b.action)) {
            let free: Vec<Key> = b
                .keys
                .iter()
                .copied()
                .filter(|k| control(&KeyEvent::new(k.code, k.mods)).is_none())
                .collect();
            if !free.is_empty() {
                looking.push((label(&free), b.help.to_string()));
            }
        }
    }
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, d)| (k.to_string(), d.to_string())).collect();
    vec![
        ("Timeline", timeline),
        ("Looking around, as in the live checklist", looking),
        ("The go-to-time prompt", pairs(PROMPT)),
        ("Mouse", pairs(MOUSE)),
    ]
}

/// The replay's section of `docs/keys.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "\n## Replay\n\n`runsheet replay SESSION` shows the live checklist as it was, read-only, \
         driven by a timeline. The bar under it shows the integrity badge, the journal's own \
         timestamp and the event shown, the timeline with its markers (`┃` phase, `✗` failure, \
         `✓` sign-off, `◆` verification, `≈` a compressed idle gap, `●` now), the play state \
         and the speed. Keys that would act on a session (run, sign, skip…) do nothing.\n",
    );
    for (title, entries) in sections() {
        let head = if title == "Mouse" { "Action" } else { "Key" };
        out.push_str(&format!("\n### {title}\n\n| {head} | Does |\n|---|---|\n"));
        for (keys, does) in entries {
            let keys = if head == "Key" {
                keys.split(" / ")
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            } else {
                keys
            };
            out.push_str(&format!("| {keys} | {does} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn char(c: char) -> KeyEvent {
        let mods = if c.is_ascii_uppercase() || "+_{}".contains(c) {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(KeyCode::Char(c), mods)
    }

    #[test]
    fn every_timeline_key_maps_to_its_control() {
        let cases = [
            (char(' '), Control::PlayPause),
            (char('+'), Control::Faster),
            (char('='), Control::Faster),
            (char('-'), Control::Slower),
            (key(KeyCode::Right), Control::Next),
            (char('l'), Control::Next),
            (key(KeyCode::Left), Control::Prev),
            (char('h'), Control::Prev),
            (char(']'), Control::NextMark(Mark::StepStart)),
            (char('['), Control::PrevMark(Mark::StepStart)),
            (char('}'), Control::NextMark(Mark::Phase)),
            (char('{'), Control::PrevMark(Mark::Phase)),
            (char('f'), Control::NextMark(Mark::Failure)),
            (char('F'), Control::PrevMark(Mark::Failure)),
            (char('s'), Control::NextMark(Mark::SignOff)),
            (char('S'), Control::PrevMark(Mark::SignOff)),
            (char('v'), Control::NextMark(Mark::Verification)),
            (char('V'), Control::PrevMark(Mark::Verification)),
            (char('g'), Control::GoTo),
            (key(KeyCode::Home), Control::Start),
            (key(KeyCode::End), Control::End),
            (char('.'), Control::Follow),
            (char('?'), Control::Help),
            (char('q'), Control::Quit),
            (
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Control::Quit,
            ),
        ];
        for (ev, want) in cases {
            assert_eq!(control(&ev), Some(want), "{ev:?}");
        }
        assert_eq!(control(&char('x')), None);
    }

    #[test]
    fn only_looking_keys_reach_the_checklist() {
        for c in ['j', 'k', '/', 'n', 'N', 'w', 'o', 'G'] {
            assert!(passes_through(&char(c)), "{c}");
        }
        for code in [
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Up,
            KeyCode::PageDown,
            KeyCode::Enter,
        ] {
            assert!(passes_through(&key(code)), "{code:?}");
        }
        // Run, retry, pause, cancel, note, abort, rollback: never.
        for c in ['r', 'R', 'p', 'c', 'm', 'A', 'B'] {
            assert!(!passes_through(&char(c)), "{c}");
            assert!(is_live_action(&char(c)), "{c}");
        }
        // Claimed by the timeline, so not the checklist's sign-off or skip.
        for c in ['s', 'S', 'f', 'v', 'l', 'g', ' ', 'q', '?'] {
            assert!(!passes_through(&char(c)), "{c}");
            assert!(!is_live_action(&char(c)), "{c}");
        }
        assert!(!passes_through(&char('x')) && !is_live_action(&char('x')));
    }

    #[test]
    fn no_timeline_key_is_bound_twice() {
        let keys: Vec<Key> = BINDINGS.iter().flat_map(|b| b.keys.iter().copied()).collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(a), "{a:?} is bound twice");
        }
    }

    #[test]
    fn the_keys_overlay_scrolls_and_closes() {
        assert_eq!(help_key(3, &key(KeyCode::Down)), Some(4));
        assert_eq!(help_key(0, &key(KeyCode::Up)), Some(0));
        assert_eq!(help_key(5, &key(KeyCode::Home)), Some(0));
        assert_eq!(help_key(5, &key(KeyCode::Esc)), None);
        assert_eq!(help_key(5, &char('?')), None);
        assert_eq!(help_key(5, &char('x')), Some(5));
    }

    /// `docs/keys.md` is both key tables, the live checklist's and the
    /// replay's; `RUNSHEET_UPDATE_DOCS=1 cargo test --lib keys` rewrites it.
    #[test]
    fn docs_keys_md_is_the_key_tables() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/keys.md");
        let tables = keys::markdown() + &markdown();
        if std::env::var_os("RUNSHEET_UPDATE_DOCS").is_some() {
            std::fs::write(path, &tables).expect("write docs/keys.md");
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == tables,
            "docs/keys.md is out of date; rerun with RUNSHEET_UPDATE_DOCS=1"
        );
    }

    #[test]
    fn the_key_list_names_the_keys_left_to_the_checklist() {
        let sections = sections();
        let looking = &sections[1].1;
        assert!(looking.iter().any(|(k, _)| k.contains("Tab")));
        assert!(
            !looking.iter().any(|(k, _)| k == "g" || k.contains("Home")),
            "g and Home belong to the timeline: {looking:?}"
        );
        assert!(markdown().contains("| `Space` | play / pause |"));
    }
}

//! The key table: one list that both the key handler and the help overlay
//! (and `docs/keys.md`) read, so what is documented is what is bound.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::session::ChoiceKind;

/// Where a binding applies. The handler asks the most specific context first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    /// The focused pane (checklist, detail, log, verification) and overlays.
    Navigate,
    Checklist,
    SignOff,
    Note,
    Prompt,
    Confirm,
    Overlay,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Anywhere",
            Context::Navigate => "In the focused pane and in overlays",
            Context::Checklist => "Checklist",
            Context::SignOff => "Sign-off dialog",
            Context::Note => "Note dialog",
            Context::Prompt => "Name and reason prompts, log search",
            Context::Confirm => "Yes/no questions",
            Context::Overlay => "Help and reference overlays",
        }
    }

    /// Every context, in the order the help lists them.
    pub const ALL: [Context; 8] = [
        Context::Global,
        Context::Navigate,
        Context::Checklist,
        Context::SignOff,
        Context::Note,
        Context::Prompt,
        Context::Confirm,
        Context::Overlay,
    ];
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Help,
    Quit,
    FocusNext,
    FocusPrev,
    Run,
    Pause,
    SignOff,
    Retry,
    Skip,
    CancelStep,
    Abort,
    Note,
    Rollback,
    References,
    Follow,
    ShowLog,
    ShowChecks,
    Search,
    SearchNext,
    SearchPrev,
    Wrap,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Toggle,
    Collapse,
    Expand,
    NextField,
    PrevField,
    Submit,
    Cancel,
    Yes,
    No,
    Close,
    NextSection,
    PrevSection,
}

/// A key with the modifiers it needs (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

impl Key {
    /// Whether a terminal key event is this key. Shift is folded into
    /// characters and Shift+Tab, and Ctrl+letters ignore case (Caps Lock).
    pub fn matches(self, ev: &KeyEvent) -> bool {
        let mut mods = ev.modifiers;
        if matches!(ev.code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods.remove(KeyModifiers::SHIFT);
        }
        let same_code = match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) if self.mods.contains(KeyModifiers::CONTROL) => {
                a.eq_ignore_ascii_case(&b)
            }
            (a, b) => a == b,
        };
        same_code && mods == self.mods
    }

    /// How the key is written in the help and in `docs/keys.md`.
    pub fn label(self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => {
                c.to_ascii_uppercase().to_string()
            }
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift+Tab".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl+{base}")
        } else {
            base
        }
    }
}

/// One line of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

const fn bind(context: Context, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        context,
        keys,
        action,
        help,
    }
}

use Context as C;

/// Every key runsheet's TUI answers to.
pub const BINDINGS: &[Binding] = &[
    bind(
        C::Global,
        &[ch('r')],
        Action::Run,
        "run / continue: start the next step (asks for the environment's name first where the runbook says so; at a phase hold, confirms going on)",
    ),
    bind(
        C::Global,
        &[ch('s')],
        Action::SignOff,
        "sign off the step that waits for you; mark a failed or interrupted step done; override a failed gate (signed, with role and reason)",
    ),
    bind(
        C::Global,
        &[ch('R')],
        Action::Retry,
        "retry the failed or interrupted step (a gate: check it again)",
    ),
    bind(
        C::Global,
        &[ch('S')],
        Action::Skip,
        "skip the next step, with a reason",
    ),
    bind(
        C::Global,
        &[ch('p')],
        Action::Pause,
        "pause: start no new step (a running one finishes)",
    ),
    bind(
        C::Global,
        &[ch('c')],
        Action::CancelStep,
        "cancel the running step (asks first)",
    ),
    bind(C::Global, &[ch('m')], Action::Note, "add a note to the journal"),
    bind(
        C::Global,
        &[ch('A')],
        Action::Abort,
        "abort the session (asks first)",
    ),
    bind(
        C::Global,
        &[ch('B')],
        Action::Rollback,
        "start the runbook's Rollback section (asks first)",
    ),
    bind(
        C::Global,
        &[ch('o')],
        Action::References,
        "open the reference sections (communication plan, timeline, success criteria, contacts)",
    ),
    bind(
        C::Global,
        &[ch('f')],
        Action::Follow,
        "follow again: cursor to the active step, log to its newest line",
    ),
    bind(C::Global, &[ch('l')], Action::ShowLog, "show and focus the log"),
    bind(
        C::Global,
        &[ch('v')],
        Action::ShowChecks,
        "show and focus the verification results",
    ),
    bind(C::Global, &[ch('/')], Action::Search, "search the log"),
    bind(C::Global, &[ch('n')], Action::SearchNext, "next search match"),
    bind(C::Global, &[ch('N')], Action::SearchPrev, "previous search match"),
    bind(
        C::Global,
        &[ch('w')],
        Action::Wrap,
        "wrap long log lines on / off",
    ),
    bind(
        C::Global,
        &[code(KeyCode::Tab)],
        Action::FocusNext,
        "focus the next pane",
    ),
    bind(
        C::Global,
        &[code(KeyCode::BackTab)],
        Action::FocusPrev,
        "focus the previous pane",
    ),
    bind(C::Global, &[ch('?')], Action::Help, "this list of keys"),
    bind(
        C::Global,
        &[ch('q'), ctrl('c')],
        Action::Quit,
        "quit (asks first while a step runs); the session stays resumable",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::Up), ch('k')],
        Action::Up,
        "up one line",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::Down), ch('j')],
        Action::Down,
        "down one line",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::PageUp), ctrl('u')],
        Action::PageUp,
        "up one page",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::PageDown), ctrl('d')],
        Action::PageDown,
        "down one page",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::Home), ch('g')],
        Action::Top,
        "to the top",
    ),
    bind(
        C::Navigate,
        &[code(KeyCode::End), ch('G')],
        Action::Bottom,
        "to the bottom (in the log: follow new output)",
    ),
    bind(
        C::Checklist,
        &[code(KeyCode::Enter), ch(' ')],
        Action::Toggle,
        "collapse / expand the phase under the cursor",
    ),
    bind(
        C::Checklist,
        &[code(KeyCode::Left)],
        Action::Collapse,
        "collapse the phase",
    ),
    bind(
        C::Checklist,
        &[code(KeyCode::Right)],
        Action::Expand,
        "expand the phase",
    ),
    bind(
        C::SignOff,
        &[code(KeyCode::Tab), code(KeyCode::Enter)],
        Action::NextField,
        "next field (in the note, Enter is a new line)",
    ),
    bind(
        C::SignOff,
        &[code(KeyCode::BackTab)],
        Action::PrevField,
        "previous field",
    ),
    bind(C::SignOff, &[ctrl('s')], Action::Submit, "sign"),
    bind(C::SignOff, &[code(KeyCode::Esc)], Action::Cancel, "cancel"),
    bind(
        C::Note,
        &[ctrl('s')],
        Action::Submit,
        "save the note (Enter is a new line)",
    ),
    bind(C::Note, &[code(KeyCode::Esc)], Action::Cancel, "cancel"),
    bind(C::Prompt, &[code(KeyCode::Enter)], Action::Submit, "confirm"),
    bind(C::Prompt, &[code(KeyCode::Esc)], Action::Cancel, "cancel"),
    bind(C::Confirm, &[ch('y')], Action::Yes, "yes"),
    bind(C::Confirm, &[ch('n'), code(KeyCode::Esc)], Action::No, "no"),
    bind(
        C::Overlay,
        &[code(KeyCode::Esc), ch('q'), ch('?')],
        Action::Close,
        "close",
    ),
    bind(
        C::Overlay,
        &[code(KeyCode::Tab), code(KeyCode::Right)],
        Action::NextSection,
        "next reference section",
    ),
    bind(
        C::Overlay,
        &[code(KeyCode::BackTab), code(KeyCode::Left)],
        Action::PrevSection,
        "previous reference section",
    ),
];

/// What the mouse does, for the help and the docs.
pub const MOUSE: &[(&str, &str)] = &[
    (
        "Click",
        "select a checklist row (a phase row collapses / expands), or focus the pane clicked",
    ),
    ("Wheel", "scroll the pane under the pointer"),
];

/// The action of a key press in the first of `contexts` that binds it.
/// Key releases (reported by some terminals) do nothing.
pub fn action(contexts: &[Context], ev: &KeyEvent) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    contexts.iter().find_map(|&context| {
        BINDINGS
            .iter()
            .find(|b| b.context == context && b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    })
}

/// The bindings of one context, in table order.
pub fn bindings(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.context == context)
}

/// The checklist action that answers an open decision of the rules.
pub fn choice_action(kind: ChoiceKind) -> Action {
    match kind {
        ChoiceKind::Run | ChoiceKind::ConfirmEnv | ChoiceKind::ReleaseHold => Action::Run,
        ChoiceKind::SignOff | ChoiceKind::MarkDone | ChoiceKind::Override => Action::SignOff,
        ChoiceKind::Retry => Action::Retry,
        ChoiceKind::Skip => Action::Skip,
        ChoiceKind::Cancel => Action::CancelStep,
        ChoiceKind::Abort => Action::Abort,
    }
}

/// The first key bound to an action in a context, for hints ("s sign off").
pub fn key_for(context: Context, action: Action) -> String {
    BINDINGS
        .iter()
        .find(|b| b.context == context && b.action == action)
        .and_then(|b| b.keys.first())
        .map_or_else(String::new, |k| k.label())
}

/// The live checklist's key table as Markdown: the first part of
/// `docs/keys.md` (the replay adds its own, see `replay::controls`).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Keys\n\nThe live checklist (`runsheet run RUNBOOK`) answers to these keys. \
         `?` shows the same list inside the program.\n",
    );
    for context in Context::ALL {
        out.push_str(&format!(
            "\n## {}\n\n| Key | Does |\n|---|---|\n",
            context.title()
        ));
        for b in bindings(context) {
            let keys = b
                .keys
                .iter()
                .map(|k| format!("`{}`", k.label()))
                .collect::<Vec<_>>()
                .join(" / ");
            out.push_str(&format!("| {keys} | {} |\n", b.help));
        }
    }
    out.push_str("\n## Mouse\n\n| Action | Does |\n|---|---|\n");
    for (what, does) in MOUSE {
        out.push_str(&format!("| {what} | {does} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shift_is_part_of_the_character() {
        let upper_r = key(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(action(&[Context::Global], &upper_r), Some(Action::Retry));
        let r = key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(action(&[Context::Global], &r), Some(Action::Run));
        let back = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(action(&[Context::Global], &back), Some(Action::FocusPrev));
    }

    #[test]
    fn control_letters_ignore_case_and_need_control() {
        let ctrl_s = key(KeyCode::Char('S'), KeyModifiers::CONTROL | KeyModifiers::SHIFT);
        assert_eq!(action(&[Context::SignOff], &ctrl_s), Some(Action::Submit));
        let s = key(KeyCode::Char('s'), KeyModifiers::NONE);
        assert_eq!(action(&[Context::SignOff], &s), None);
    }

    #[test]
    fn the_most_specific_context_wins() {
        let enter = key(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            action(&[Context::Checklist, Context::Global], &enter),
            Some(Action::Toggle)
        );
        let k = key(KeyCode::Char('k'), KeyModifiers::NONE);
        assert_eq!(
            action(&[Context::Navigate, Context::Global], &k),
            Some(Action::Up)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for context in Context::ALL {
            let keys: Vec<Key> = bindings(context).flat_map(|b| b.keys.iter().copied()).collect();
            for (i, a) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(a), "{a:?} is bound twice in {context:?}");
            }
        }
    }
}

//! Promotion gates proven from saved journals.
//!
//! An environment whose front matter `requires` others may only go ahead
//! when each of them has a completed, successful, live session of the same
//! runbook content in the state directory. The evidence (and why each
//! candidate does or does not count) becomes the gate step's observed rows.
//!
//! Whether one saved session counts is decided in one place,
//! [`counts_as_evidence`]: the gate asks it about every candidate, and the
//! deployment report (`runsheet report --deployment`) asks it about every
//! session it lists, and the promotion board ([`Board`], `runsheet status`
//! and the start of a gated session) asks it about every environment, so
//! none of them can disagree.

use std::path::Path;

use crate::journal::event::{Mode, Observed, SessionOutcome};
use crate::journal::postgres::{JournalDb, PgError, run_blocking};
use crate::journal::reader::read_journal;
use crate::journal::store::{self, SessionList, SessionStatus, SessionSummary};
use crate::runbook::model::{Environment, Runbook};

/// What a saved session is asked to prove about its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proof {
    /// The environment's plan went well (`requires`).
    Run,
    /// The Rollback section ran to completion there (`requires_rollback_test`).
    RollbackTest,
}

impl Proof {
    /// What a session that proves it is called.
    pub fn noun(self) -> &'static str {
        match self {
            Proof::Run => "successful session",
            Proof::RollbackTest => "rollback rehearsal",
        }
    }
}

/// The columns of a gate's evidence table, in order. `target` came last
/// (journals before it have the first seven).
const EVIDENCE_COLUMNS: [&str; 8] = [
    "session", "operator", "started", "mode", "outcome", "counts", "why not", "target",
];
const SESSION_COLUMN: usize = 0;
const COUNTS_COLUMN: usize = 5;
const WHY_NOT_COLUMN: usize = 6;

/// The result of checking one gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    pub passed: bool,
    /// One sentence: the session that counts, or exactly what is missing.
    pub summary: String,
    /// Every candidate session with whether it counts and why not.
    pub evidence: Observed,
}

/// Whether saved session `s` counts as `proof` for `environment`, for a
/// runbook whose content hash is `runbook_sha256` and which pins
/// `environment`'s database to the cluster `pin` (its system identifier);
/// `Err` says why not, in words a gate and a report can show as they are.
/// `saved` is every session of the state directory: a successful session
/// stops counting once its environment was rolled back after it. This is
/// the one rule.
pub fn counts_as_evidence(
    s: &SessionSummary,
    saved: &[SessionSummary],
    environment: &str,
    pin: Option<&str>,
    proof: Proof,
    runbook_sha256: &str,
) -> Result<(), String> {
    if s.environment != environment {
        return Err(format!("a session of {}, not {environment}", s.environment));
    }
    if s.mode == Mode::DryRun {
        return Err("a dry run never counts as evidence".to_string());
    }
    if let Some(only) = &s.only {
        return Err(format!(
            "a {} session ran part of the plan (--only {only}) and never counts as evidence",
            s.kind()
        ));
    }
    if s.runbook_sha256 != runbook_sha256 {
        return Err(format!(
            "a different runbook (SHA-256 {})",
            s.runbook_sha256.get(..12).unwrap_or("?")
        ));
    }
    if let Some(pin) = pin {
        on_pinned_cluster(s, environment, pin)?;
    }
    match (s.outcome, proof) {
        (SessionStatus::Ended(SessionOutcome::Completed), Proof::Run) => match rolled_back_after(s, saved) {
            Some(later) => Err(format!(
                "{environment} was rolled back after it (session {}): {environment} must be re-applied",
                later.id
            )),
            None => chain_intact(s),
        },
        (SessionStatus::Ended(SessionOutcome::RolledBack), Proof::RollbackTest) => chain_intact(s),
        (SessionStatus::Ended(SessionOutcome::Completed), Proof::RollbackTest) => {
            Err("the Rollback section did not run in it".to_string())
        }
        (SessionStatus::Ended(SessionOutcome::RolledBack), Proof::Run) if s.rollback_only => {
            Err("a rollback session, not a run of the plan".to_string())
        }
        (SessionStatus::Ended(SessionOutcome::RolledBack), Proof::Run) => {
            Err("it was rolled back".to_string())
        }
        (SessionStatus::Ended(other), _) => Err(format!("it {}", other.label())),
        (SessionStatus::Detached, _) => Err("it was left unfinished".to_string()),
        (SessionStatus::Unfinished, _) => Err("it is unfinished".to_string()),
    }
}

/// Every database `s` recorded is the cluster `pin` the runbook pins
/// `environment` to; a session that recorded no identifier proves nothing
/// about which cluster it changed.
fn on_pinned_cluster(s: &SessionSummary, environment: &str, pin: &str) -> Result<(), String> {
    if s.targets.is_empty() {
        return Err(format!(
            "it recorded no database, but the runbook pins {environment} to cluster {pin}"
        ));
    }
    for t in &s.targets {
        match t.system_identifier.as_deref() {
            Some(id) if id == pin => {}
            Some(id) => {
                return Err(format!(
                    "ran against cluster {id}, but the runbook pins {environment} to cluster {pin}"
                ));
            }
            None => {
                return Err(format!(
                    "it recorded no system identifier for {}, but the runbook pins {environment} to cluster {pin}",
                    t.place()
                ));
            }
        }
    }
    Ok(())
}

/// Its journal's hash chain verifies, read back in full (a team journal
/// session's was, when it was read).
fn chain_intact(s: &SessionSummary) -> Result<(), String> {
    if let Some(verdict) = &s.team_chain {
        return verdict.clone();
    }
    match read_journal(&s.path) {
        Ok(read) if read.integrity.is_verified() => Ok(()),
        Ok(_) => Err("its journal's hash chain is broken".to_string()),
        Err(e) => Err(format!("its journal cannot be read: {e}")),
    }
}

/// The first live rollback of `s`'s environment started after `s` (of any
/// runbook content: whatever rolled the database back undid `s`'s change).
fn rolled_back_after<'a>(s: &SessionSummary, saved: &'a [SessionSummary]) -> Option<&'a SessionSummary> {
    saved
        .iter()
        .filter(|r| r.environment == s.environment && r.mode == Mode::Live && r.started > s.started)
        .filter(|r| r.rollback_only || r.outcome == SessionStatus::Ended(SessionOutcome::RolledBack))
        .min_by_key(|r| r.started)
}

/// Add the sessions of the team journal database `db` to `list` (the state
/// directory's), for evidence of runbook content `runbook_sha256` (see
/// [`JournalConnection::evidence`]). A session in both (the driver's local
/// copy) is taken from the local file when the two copies agree on all a
/// gate judges, and from the team journal when they do not: a local copy
/// rewritten to say more than the team's proves nothing, and one that is
/// ahead (events not sent yet) counts once the team journal has them. The
/// list stays oldest first.
///
/// [`JournalConnection::evidence`]: crate::journal::postgres::JournalConnection::evidence
pub fn with_team_journal(
    list: &mut SessionList,
    db: &JournalDb,
    runbook_sha256: &str,
) -> Result<(), PgError> {
    let stored = run_blocking(async { db.connect().await?.evidence(runbook_sha256).await })?;
    for s in stored {
        match list.sessions.iter_mut().find(|local| local.id == s.id) {
            Some(local) if !same_evidence(local, &s) => *local = s,
            Some(_) => {}
            None => list.sessions.push(s),
        }
    }
    list.sessions
        .sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
    Ok(())
}

/// Whether two copies of one session say the same to [`counts_as_evidence`].
fn same_evidence(a: &SessionSummary, b: &SessionSummary) -> bool {
    (
        &a.runbook_sha256,
        &a.environment,
        a.mode,
        &a.only,
        a.rollback_only,
        a.outcome,
        &a.targets,
    ) == (
        &b.runbook_sha256,
        &b.environment,
        b.mode,
        &b.only,
        b.rollback_only,
        b.outcome,
        &b.targets,
    )
}

/// The session a passed gate relied on: the first of its evidence rows that
/// counted (the one its summary names), read back from the table the gate
/// recorded.
pub fn relied_on(evidence: &Observed) -> Option<&str> {
    let known = evidence.columns.len() > WHY_NOT_COLUMN
        && evidence.columns.iter().zip(EVIDENCE_COLUMNS).all(|(a, b)| a == b);
    if !known {
        return None;
    }
    evidence
        .rows
        .iter()
        .find(|row| row.get(COUNTS_COLUMN).is_some_and(|c| c == "yes"))
        .and_then(|row| row.get(SESSION_COLUMN))
        .map(String::as_str)
}

/// Check for a session of `environment` that proves this runbook went well
/// there (or, with `rollback`, that its Rollback section ran to completion),
/// on the cluster `pin` where the runbook pins one, among the state
/// directory's sessions and, with `team`, the team journal's.
pub fn check_session_gate(
    state_dir: &Path,
    team: Option<&JournalDb>,
    environment: &str,
    pin: Option<&str>,
    rollback: bool,
    runbook_sha256: &str,
    current_session: &str,
) -> GateCheck {
    let proof = if rollback { Proof::RollbackTest } else { Proof::Run };
    let what = proof.noun();
    let mut evidence = Observed {
        columns: EVIDENCE_COLUMNS.map(String::from).to_vec(),
        ..Observed::default()
    };
    let mut list = match store::list_sessions(state_dir) {
        Ok(list) => list,
        Err(e) => {
            return GateCheck {
                passed: false,
                summary: format!("cannot read saved sessions: {e}"),
                evidence,
            };
        }
    };
    // Unreadable, the team journal adds nothing, and a gate that fails says why.
    let team_unread = team.and_then(|db| with_team_journal(&mut list, db, runbook_sha256).err());
    let unread = team_unread
        .map(|e| format!(" (the team journal's sessions could not be read: {e})"))
        .unwrap_or_default();
    let searched = match team {
        Some(db) => format!("{} or the team journal {}", state_dir.display(), db.target()),
        None => state_dir.display().to_string(),
    };
    let mut found: Option<String> = None;
    for s in list
        .sessions
        .iter()
        .filter(|s| s.environment == environment && s.id != current_session)
    {
        let why_not = counts_as_evidence(s, &list.sessions, environment, pin, proof, runbook_sha256).err();
        let target = s.target_label();
        if why_not.is_none() && found.is_none() {
            found = Some(format!(
                "{} {} by {} on {} against {target}",
                what,
                s.id,
                s.operator,
                s.started.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        evidence.rows.push(vec![
            s.id.clone(),
            s.operator.clone(),
            s.started.format("%Y-%m-%d %H:%M:%S").to_string(),
            s.kind(),
            s.outcome.label().to_string(),
            if why_not.is_none() { "yes" } else { "no" }.to_string(),
            why_not.unwrap_or_default(),
            target,
        ]);
    }
    match found {
        Some(summary) => GateCheck {
            passed: true,
            summary: format!("{environment}: {summary}"),
            evidence,
        },
        None if evidence.rows.is_empty() => GateCheck {
            passed: false,
            summary: format!(
                "no session of {environment} in {searched}: run this runbook in {environment} first{unread}"
            ),
            evidence,
        },
        None => GateCheck {
            passed: false,
            summary: format!(
                "none of the {} session(s) of {environment} counts as a {what}: {}{unread}",
                evidence.rows.len(),
                evidence
                    .rows
                    .iter()
                    .map(|r| format!("{} ({})", r[SESSION_COLUMN], r[WHY_NOT_COLUMN]))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            evidence,
        },
    }
}

/// The environments, each after every one it requires (a cycle or an
/// unknown name cannot stop it: what is left goes in runbook order).
pub fn promotion_order(envs: &[Environment]) -> Vec<&Environment> {
    let named: Vec<(&str, &[String])> = envs
        .iter()
        .map(|e| (e.name.as_str(), e.requires.as_slice()))
        .collect();
    order(&named).into_iter().map(|i| &envs[i]).collect()
}

/// [`promotion_order`] on (name, requires) pairs: their indices in order.
fn order(envs: &[(&str, &[String])]) -> Vec<usize> {
    let mut placed: Vec<usize> = Vec::new();
    let known = |name: &str| envs.iter().any(|(n, _)| *n == name);
    while placed.len() < envs.len() {
        let is_placed = |name: &str| placed.iter().any(|&p| envs[p].0 == name);
        let open = (0..envs.len()).filter(|&i| !placed.contains(&i));
        let ready = open
            .clone()
            .find(|&i| envs[i].1.iter().all(|r| is_placed(r) || !known(r)));
        match ready.or_else(|| open.clone().next()) {
            Some(i) => placed.push(i),
            None => break,
        }
    }
    placed
}

/// The evidence rule's answer about one session and one proof.
type Verdict = Result<(), String>;

/// One environment on the path to production, as the saved sessions prove it.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub environment: String,
    pub requires: Vec<String>,
    /// The session that proves the plan went well here, as a gate picks it.
    pub proven_by: Option<SessionSummary>,
    /// Another environment asks for a rollback rehearsal here.
    pub rehearsal_needed: bool,
    /// The rollback rehearsal that counts, where one is needed.
    pub rehearsed_by: Option<SessionSummary>,
    /// Its sessions of this runbook content that count for nothing, with why.
    pub not_counting: Vec<(SessionSummary, String)>,
    /// What is still missing here, in words, with the command that provides it.
    pub missing: Vec<(String, String)>,
}

/// The promotion board: every environment in promotion order, what counts,
/// what is missing and the command to run next.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// The runbook as the suggested commands name it.
    pub runbook: String,
    pub environments: Vec<Standing>,
}

impl Board {
    /// The board of `runbook` (named `runbook_arg` in the commands it
    /// suggests) from the sessions in `list`.
    pub fn new(runbook: &Runbook, runbook_arg: &str, list: &SessionList) -> Board {
        let sha = runbook.content_hash.as_str();
        let rehearsed: Vec<&str> = runbook
            .environments
            .iter()
            .filter_map(|e| e.requires_rollback_test.as_deref())
            .collect();
        let run = |env: &str, extra: &str| shell_command(runbook_arg, env, extra);
        let environments = promotion_order(&runbook.environments)
            .into_iter()
            .map(|env| {
                let name = env.name.as_str();
                let pin = env.system_identifier.as_deref();
                let mine: Vec<&SessionSummary> = list
                    .sessions
                    .iter()
                    .filter(|s| s.environment == name && s.runbook_sha256 == sha)
                    .collect();
                let rehearsal_needed = rehearsed.contains(&name);
                // Each session judged once per proof (a verdict that counts reads the whole journal).
                let verdicts: Vec<(&SessionSummary, Verdict, Verdict)> = mine
                    .iter()
                    .map(|s| {
                        let run = counts_as_evidence(s, &list.sessions, name, pin, Proof::Run, sha);
                        let rehearsal = if rehearsal_needed {
                            counts_as_evidence(s, &list.sessions, name, pin, Proof::RollbackTest, sha)
                        } else {
                            Err(String::new())
                        };
                        (*s, run, rehearsal)
                    })
                    .collect();
                let proven_by = verdicts.iter().find(|v| v.1.is_ok()).map(|v| v.0.clone());
                let rehearsed_by = verdicts.iter().find(|v| v.2.is_ok()).map(|v| v.0.clone());
                let not_counting: Vec<(SessionSummary, String)> = verdicts
                    .iter()
                    .filter_map(|(s, run, rehearsal)| {
                        let why = run.as_ref().err()?;
                        if rehearsal.is_ok() {
                            return None;
                        }
                        let as_rehearsal = rehearsal
                            .as_ref()
                            .err()
                            .filter(|e| rehearsal_needed && *e != why)
                            .map(|e| format!("; as a rollback rehearsal: {e}"))
                            .unwrap_or_default();
                        Some(((*s).clone(), format!("{why}{as_rehearsal}")))
                    })
                    .collect();
                let mut missing = Vec::new();
                if proven_by.is_none() {
                    let superseded = mine.iter().rev().find_map(|s| {
                        (s.outcome == SessionStatus::Ended(SessionOutcome::Completed) && s.only.is_none())
                            .then(|| rolled_back_after(s, &list.sessions))
                            .flatten()
                    });
                    let open = mine.iter().rev().find(|s| {
                        s.mode == Mode::Live
                            && s.only.is_none()
                            && !s.rollback_only
                            && !matches!(s.outcome, SessionStatus::Ended(_))
                    });
                    missing.push(match (open, superseded) {
                        (Some(open), _) => (
                            format!(
                                "session {} of {name} is {}: finish it",
                                open.id,
                                open.outcome.label()
                            ),
                            run(name, &format!(" --resume {}", open.id)),
                        ),
                        (None, Some(rollback)) => (
                            format!(
                                "{name} must be re-applied after its rollback rehearsal (session {})",
                                rollback.id
                            ),
                            run(name, ""),
                        ),
                        (None, None) => (format!("a successful session of {name}"), run(name, "")),
                    });
                }
                if rehearsal_needed && rehearsed_by.is_none() {
                    missing.push((
                        format!("a rollback rehearsal of {name}"),
                        run(name, " --headless --rollback=\"rollback rehearsal\""),
                    ));
                }
                Standing {
                    environment: env.name.clone(),
                    requires: env.requires.clone(),
                    proven_by,
                    rehearsal_needed,
                    rehearsed_by,
                    not_counting,
                    missing,
                }
            })
            .collect();
        Board {
            runbook: runbook_arg.to_string(),
            environments,
        }
    }

    /// The first thing missing on the path, and the command that provides it;
    /// `None` once every environment is proven.
    pub fn next(&self) -> Option<&(String, String)> {
        self.environments.iter().find_map(|e| e.missing.first())
    }

    /// What comes next once a session of `current` ends as it should: for
    /// a rollback rehearsal, re-applying `current`; else a rehearsal still
    /// missing in `current`, else the first thing missing further along.
    /// `None` when nothing is left, or `current` is on no path.
    pub fn after(&self, current: &str, rollback_only: bool) -> Option<(String, String)> {
        let at = self.environments.iter().position(|e| e.environment == current)?;
        let here = &self.environments[at];
        if rollback_only {
            return Some((
                format!("{current} must be re-applied after its rollback rehearsal"),
                shell_command(&self.runbook, current, ""),
            ));
        }
        let rehearsal = here
            .missing
            .iter()
            .find(|(what, _)| what.starts_with("a rollback rehearsal"));
        rehearsal
            .or_else(|| self.environments[at + 1..].iter().find_map(|e| e.missing.first()))
            .cloned()
    }

    /// The last environment of the path (production, usually).
    pub fn destination(&self) -> Option<&str> {
        self.environments.last().map(|e| e.environment.as_str())
    }

    /// Whether `environment` is on a gated path: it requires another, or
    /// another requires it or a rehearsal in it.
    pub fn is_gated(&self, environment: &str) -> bool {
        self.environments.iter().any(|e| {
            (e.environment == environment && (!e.requires.is_empty() || e.rehearsal_needed))
                || e.requires.iter().any(|r| r == environment)
        })
    }

    /// The path in one line, marking `current` (the session being started):
    /// `path to production: development ✓ → staging ✓ rehearsed ✓ → production (this session)`.
    pub fn path_line(&self, current: &str) -> String {
        let steps: Vec<String> = self
            .environments
            .iter()
            .map(|e| {
                let mut s = e.environment.clone();
                if e.environment == current {
                    s.push_str(" (this session)");
                    return s;
                }
                s.push_str(if e.proven_by.is_some() { " ✓" } else { " ✗" });
                if e.rehearsal_needed {
                    s.push_str(if e.rehearsed_by.is_some() {
                        " rehearsed ✓"
                    } else {
                        " rehearsed ✗"
                    });
                }
                s
            })
            .collect();
        format!(
            "path to {}: {}",
            self.destination().unwrap_or("production"),
            steps.join(" → ")
        )
    }

    /// The board as text, for `runsheet status`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let when = |s: &SessionSummary| {
            format!(
                "{} by {} on {}",
                s.id,
                s.operator,
                s.started.format("%Y-%m-%d %H:%M UTC")
            )
        };
        for e in &self.environments {
            out.push_str(&e.environment);
            if !e.requires.is_empty() {
                out.push_str(&format!(" (requires {})", e.requires.join(", ")));
            }
            out.push('\n');
            match &e.proven_by {
                Some(s) => out.push_str(&format!("  ✓ successful session: {}\n", when(s))),
                None => out.push_str("  ✗ no successful session counts\n"),
            }
            if e.rehearsal_needed {
                match &e.rehearsed_by {
                    Some(s) => out.push_str(&format!("  ✓ rollback rehearsal: {}\n", when(s))),
                    None => out.push_str("  ✗ no rollback rehearsal counts\n"),
                }
            }
            for (s, why) in &e.not_counting {
                out.push_str(&format!(
                    "  · {} ({}, {}): does not count: {why}\n",
                    s.id,
                    s.kind(),
                    s.outcome.label()
                ));
            }
            for (what, _) in &e.missing {
                out.push_str(&format!("  missing: {what}\n"));
            }
        }
        match self.next() {
            Some((what, command)) => out.push_str(&format!("\nnext: {what}\n  {command}\n")),
            None => out.push_str(&format!(
                "\nevery environment is proven: {} may go ahead or is done\n",
                self.destination().unwrap_or("the deployment")
            )),
        }
        out
    }
}

/// `runsheet run RUNBOOK --env ENV…`, quoted for a POSIX shell where needed.
fn shell_command(runbook: &str, env: &str, extra: &str) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    format!("runsheet run {} --env {}{extra}", quote(runbook), quote(env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(envs: &[(&'a str, &[String])]) -> Vec<&'a str> {
        order(envs).into_iter().map(|i| envs[i].0).collect()
    }

    #[test]
    fn environments_follow_what_they_require() {
        let req = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (both, dev, none, nowhere) = (
            req(&["development", "staging"]),
            req(&["development"]),
            req(&[]),
            req(&["nowhere"]),
        );
        let envs = [
            ("production", both.as_slice()),
            ("staging", dev.as_slice()),
            ("development", none.as_slice()),
            ("qa", nowhere.as_slice()),
        ];
        assert_eq!(names(&envs), ["development", "staging", "production", "qa"]);
        let (a, b) = (req(&["b"]), req(&["a"]));
        assert_eq!(
            names(&[("a", a.as_slice()), ("b", b.as_slice())]),
            ["a", "b"],
            "a cycle still lists every environment once"
        );
    }
}

//! `runsheet report --deployment RUNBOOK`: one document for a whole
//! deployment, for the post-deployment review.
//!
//! It gathers every saved session of the runbook's current content (its
//! SHA-256, as the gates compare it) across environments, in promotion
//! order (an environment after those it `requires`, then by start), and
//! says of each whether it counts as evidence and, if not, why; the answer
//! comes from [`gates::counts_as_evidence`], the rule the gates themselves
//! use, so the report and the gates cannot disagree. Each session is reported
//! from its fold like `runsheet report` does ([`Report`]); on top come the
//! promotion path with dates, a comparison of the sessions that proved each
//! environment, the evidence chain (what every gate relied on, and whether
//! that session still counts today), and every journal's integrity.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::layout::{Cell, Span, SummaryRow, Table, columns, failures, step, text, waits};
use super::{GroupStats, Report, Tone, clean};
use crate::gates::{self, Proof, counts_as_evidence};
use crate::journal::event::Mode;
use crate::journal::reader::read_journal;
use crate::journal::store::{self, SessionSummary};
use crate::launch::load_runbook;
use crate::runbook::model::{Gate, Runbook, StepKind};
use crate::session::{SessionState, StepStatus};

/// Everything the deployment report says.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub title: String,
    pub runbook_path: String,
    pub runbook_sha256: String,
    /// The runbook's environments in promotion order.
    pub environments: Vec<PromotionStep>,
    /// Every session of this runbook content, in promotion order.
    pub sessions: Vec<DeployedSession>,
    /// Every promotion gate every session ran, in session order.
    pub chain: Vec<GateLink>,
    /// Journals of the state directory that could not be read (path, why).
    pub unreadable: Vec<(String, String)>,
}

/// One environment on the promotion path.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionStep {
    pub name: String,
    pub requires: Vec<String>,
    /// Another environment needs a rollback rehearsal here.
    pub rehearsal_needed: bool,
    /// The session that proves the environment went well: the first that
    /// counts, as a gate picks it (index into [`Deployment::sessions`]).
    pub proven_by: Option<usize>,
    /// The rollback rehearsal that counts, where one is needed.
    pub rehearsed_by: Option<usize>,
}

/// A session of the deployment and what it proves.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedSession {
    pub report: Report,
    /// Each proof asked of it (a successful session; a rollback rehearsal
    /// where one is needed) and the rule's answer.
    pub evidence: Vec<(Proof, Result<(), String>)>,
}

impl DeployedSession {
    /// What it counts as, if anything.
    pub fn counts_as(&self) -> Option<Proof> {
        self.evidence
            .iter()
            .find_map(|(proof, verdict)| verdict.is_ok().then_some(*proof))
    }

    /// "counts: successful session", or "does not count: why" (every reason).
    pub fn verdict(&self) -> String {
        match self.counts_as() {
            Some(proof) => format!("counts: {}", proof.noun()),
            None => {
                let why: Vec<String> = self
                    .evidence
                    .iter()
                    .filter_map(|(proof, verdict)| verdict.as_ref().err().map(|e| (proof, e)))
                    .map(|(proof, e)| match proof {
                        Proof::Run => e.clone(),
                        Proof::RollbackTest => format!("as a {}: {e}", proof.noun()),
                    })
                    .collect();
                format!("does not count: {}", why.join("; "))
            }
        }
    }
}

/// What a gate found when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateResult {
    Passed,
    /// Failed, then signed off by a person with a reason.
    Overridden,
    Failed,
    /// The session never reached it.
    NotRun,
}

impl GateResult {
    pub fn label(self) -> &'static str {
        match self {
            GateResult::Passed => "passed",
            GateResult::Overridden => "overridden",
            GateResult::Failed => "failed",
            GateResult::NotRun => "not run",
        }
    }

    fn tone(self) -> Tone {
        match self {
            GateResult::Passed => Tone::Good,
            GateResult::Overridden => Tone::Warn,
            GateResult::Failed => Tone::Bad,
            GateResult::NotRun => Tone::Neutral,
        }
    }
}

/// One promotion gate of one session: what it needed and what it relied on.
#[derive(Debug, Clone, PartialEq)]
pub struct GateLink {
    /// The gated session (index into [`Deployment::sessions`]).
    pub session: usize,
    pub gate: String,
    pub title: String,
    /// The environment it needed evidence from, and of what.
    pub needs: String,
    pub proof: Proof,
    pub result: GateResult,
    /// The session its passing check named.
    pub relied_on: Option<String>,
    /// Who overrode it and why.
    pub overridden_by: Option<String>,
    /// Whether the session it relied on counts today; `None` when it relied
    /// on none.
    pub today: Option<Result<(), String>>,
}

/// Why there is no deployment report.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The runbook does not load (its diagnostics are in the message).
    #[error("{0}")]
    Runbook(String),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

impl Deployment {
    /// Gather the deployment of the runbook at `runbook` from `state_dir`.
    pub fn gather(state_dir: &Path, runbook: &Path) -> Result<Deployment, DeploymentError> {
        let (runbook, _warnings) =
            load_runbook(runbook).map_err(|e| DeploymentError::Runbook(e.to_string()))?;
        let sha = runbook.content_hash.as_str();
        let order = gates::promotion_order(&runbook.environments);
        let rehearsed: BTreeSet<&str> = runbook
            .environments
            .iter()
            .filter_map(|e| e.requires_rollback_test.as_deref())
            .collect();
        let list = store::list_sessions(state_dir)?;
        let mut unreadable: Vec<(String, String)> = list
            .unreadable
            .iter()
            .map(|u| (u.path.display().to_string(), clean(&u.reason)))
            .collect();
        let place = |env: &str| order.iter().position(|e| e.name == env).unwrap_or(order.len());
        let mut candidates: Vec<&SessionSummary> =
            list.sessions.iter().filter(|s| s.runbook_sha256 == sha).collect();
        // Promotion order, then by start (the list is sorted by start).
        candidates.sort_by_key(|s| place(&s.environment));

        let mut sessions = Vec::new();
        let mut chain = Vec::new();
        for summary in candidates {
            let read = match read_journal(&summary.path) {
                Ok(read) => read,
                Err(e) => {
                    unreadable.push((summary.path.display().to_string(), clean(&e.to_string())));
                    continue;
                }
            };
            let state = match SessionState::from_records(&read.records) {
                Ok(state) => state,
                Err(e) => {
                    unreadable.push((summary.path.display().to_string(), e.to_string()));
                    continue;
                }
            };
            let mut proofs = vec![Proof::Run];
            if rehearsed.contains(summary.environment.as_str()) {
                proofs.push(Proof::RollbackTest);
            }
            let evidence = proofs
                .into_iter()
                .map(|proof| {
                    (
                        proof,
                        counts_as_evidence(
                            summary,
                            &list.sessions,
                            &summary.environment,
                            runbook.pin_of(&summary.environment),
                            proof,
                            sha,
                        ),
                    )
                })
                .collect();
            chain.extend(gate_links(&state, sessions.len(), &list.sessions, &runbook));
            sessions.push(DeployedSession {
                report: Report::new(&state, &read.integrity, &read.warnings),
                evidence,
            });
        }

        let first_counting = |env: &str, proof: Proof| {
            sessions.iter().position(|s: &DeployedSession| {
                s.report.session.environment == env
                    && s.evidence
                        .iter()
                        .any(|(p, verdict)| *p == proof && verdict.is_ok())
            })
        };
        let environments = order
            .iter()
            .map(|env| PromotionStep {
                name: clean(&env.name),
                requires: env.requires.iter().map(|r| clean(r)).collect(),
                rehearsal_needed: rehearsed.contains(env.name.as_str()),
                proven_by: first_counting(&env.name, Proof::Run),
                rehearsed_by: first_counting(&env.name, Proof::RollbackTest),
            })
            .collect();
        Ok(Deployment {
            title: clean(&runbook.title),
            runbook_path: clean(&runbook.path.display().to_string()),
            runbook_sha256: sha.to_string(),
            environments,
            sessions,
            chain,
            unreadable,
        })
    }

    /// The document's title.
    pub fn title(&self) -> String {
        let runbook = if self.title.is_empty() {
            "Runbook"
        } else {
            &self.title
        };
        format!("{runbook}: deployment report")
    }

    /// Every journal verified (and none unreadable).
    pub fn intact(&self) -> bool {
        self.unreadable.is_empty() && self.sessions.iter().all(|s| s.report.integrity.broken.is_none())
    }

    /// When the deployment's sessions ran, from the first start to the last end.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let starts = self.sessions.iter().map(|s| s.report.session.started);
        let ends = self
            .sessions
            .iter()
            .map(|s| s.report.session.ended.unwrap_or(s.report.session.last_event));
        starts.min().zip(ends.max())
    }

    /// The longest timeline's drawn length: the shared time axis.
    pub fn axis_ms(&self) -> i64 {
        self.sessions
            .iter()
            .map(|s| s.report.timeline.axis.length_ms())
            .max()
            .unwrap_or(0)
    }

    /// The sessions compared side by side: for each environment the one that
    /// proved it (else its latest), and the rollback rehearsal that counts.
    pub fn compared(&self) -> Vec<usize> {
        let mut picked = Vec::new();
        for env in &self.environments {
            let latest = self
                .sessions
                .iter()
                .rposition(|s| s.report.session.environment == env.name);
            picked.extend(env.proven_by.or(latest));
            picked.extend(env.rehearsed_by);
        }
        picked.dedup();
        picked
    }

    /// The summary table.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let counted = self.sessions.iter().filter(|s| s.counts_as().is_some()).count();
        let broken = self
            .sessions
            .iter()
            .filter(|s| s.report.integrity.broken.is_some())
            .count();
        let mut rows = vec![
            SummaryRow {
                label: "Runbook",
                value: vec![text(&self.runbook_path)],
            },
            SummaryRow {
                label: "Runbook SHA-256",
                value: vec![Span::Code(self.runbook_sha256.clone())],
            },
            SummaryRow {
                label: "Sessions",
                value: vec![text(format!(
                    "{} of this runbook content, {counted} of them counting as evidence",
                    self.sessions.len()
                ))],
            },
            SummaryRow {
                label: "Ran",
                value: match self.span() {
                    Some((from, to)) => vec![Span::Time(from), text(" to "), Span::Time(to)],
                    None => vec![text("no session yet")],
                },
            },
            SummaryRow {
                label: "Integrity",
                value: vec![match (broken, self.unreadable.len()) {
                    (0, 0) => Span::Status(Tone::Good, "every journal verified".to_string()),
                    (b, u) => Span::Flag(
                        Tone::Bad,
                        format!("{b} journal(s) with a broken hash chain, {u} unreadable"),
                    ),
                }],
            },
        ];
        if let Some(last) = self.environments.last() {
            rows.push(SummaryRow {
                label: "Promotion",
                value: vec![match last.proven_by {
                    Some(i) => Span::Status(
                        Tone::Good,
                        format!(
                            "complete: {} proven by session {}",
                            last.name, self.sessions[i].report.session.id
                        ),
                    ),
                    None => Span::Flag(
                        Tone::Warn,
                        format!("not complete: {} is not proven yet", last.name),
                    ),
                }],
            });
        }
        rows
    }

    /// The promotion path: each environment, what it needs, and what proved it, when.
    pub fn promotion_table(&self) -> Table {
        let session = |i: Option<usize>, missing: &str| -> (Cell, Cell) {
            match i.map(|i| &self.sessions[i].report.session) {
                Some(s) => (
                    vec![Span::Code(s.id.clone())],
                    vec![
                        Span::Time(s.started),
                        text(" to "),
                        s.ended.map_or_else(|| text("not ended"), Span::Time),
                    ],
                ),
                None => (vec![Span::Flag(Tone::Warn, missing.to_string())], vec![text("-")]),
            }
        };
        let rows = self
            .environments
            .iter()
            .map(|env| {
                let (proof, when) = session(env.proven_by, "not proven");
                let rehearsal = if env.rehearsal_needed {
                    let (proof, when) = session(env.rehearsed_by, "no rehearsal");
                    let mut cell = proof;
                    cell.push(Span::Break);
                    cell.extend(when);
                    cell
                } else {
                    vec![text("-")]
                };
                let count = self
                    .sessions
                    .iter()
                    .filter(|s| s.report.session.environment == env.name)
                    .count();
                vec![
                    vec![text(&env.name)],
                    vec![text(if env.requires.is_empty() {
                        "-".to_string()
                    } else {
                        env.requires.join(", ")
                    })],
                    vec![text(count.to_string())],
                    proof,
                    when,
                    rehearsal,
                ]
            })
            .collect();
        Table {
            columns: columns(&[
                "Environment",
                "Requires",
                "Sessions",
                "Proven by",
                "Proving session ran",
                "Rollback rehearsal",
            ]),
            rows,
        }
    }

    /// Every session, in promotion order: what it was, whether it counts, its integrity.
    pub fn sessions_table(&self) -> Table {
        let rows = self
            .sessions
            .iter()
            .map(|d| {
                let s = &d.report.session;
                let mut mode = vec![text(s.mode.label())];
                if let Some(only) = &s.only {
                    mode.extend([text(", only "), Span::Code(only.clone())]);
                }
                let integrity = d.report.integrity.describe();
                let places: Vec<String> = s.targets.iter().map(|t| t.target.place()).collect();
                let database = if places.is_empty() {
                    text("-")
                } else {
                    Span::Code(places.join(", "))
                };
                vec![
                    vec![Span::Code(s.id.clone())],
                    vec![text(&s.environment)],
                    vec![database],
                    mode,
                    vec![text(s.operators.join(", "))],
                    vec![Span::Time(s.started)],
                    vec![Span::Duration(s.elapsed)],
                    vec![Span::Status(s.outcome.tone(), s.outcome.slug().replace('_', " "))],
                    vec![match d.counts_as() {
                        Some(_) => Span::Status(Tone::Good, d.verdict()),
                        None => Span::Status(Tone::Neutral, d.verdict()),
                    }],
                    vec![match d.report.integrity.broken {
                        None => Span::Status(Tone::Good, integrity),
                        Some(_) => Span::Flag(Tone::Bad, integrity),
                    }],
                ]
            })
            .collect();
        Table {
            columns: columns(&[
                "Session",
                "Environment",
                "Database",
                "Mode",
                "Operators",
                "Started",
                "Elapsed",
                "Outcome",
                "Evidence",
                "Integrity",
            ]),
            rows,
        }
    }

    /// The evidence chain: every gate, what it relied on, whether that holds today.
    pub fn chain_table(&self) -> Table {
        let rows = self
            .chain
            .iter()
            .map(|link| {
                let session = &self.sessions[link.session].report.session;
                let mut result = vec![Span::Status(link.result.tone(), link.result.label().to_string())];
                if let Some(by) = &link.overridden_by {
                    result.extend([text(" by "), Span::Note(by.clone())]);
                }
                vec![
                    vec![
                        Span::Code(session.id.clone()),
                        text(format!(" ({})", session.environment)),
                    ],
                    step(&link.gate, &link.title),
                    vec![text(format!("{} of {}", link.proof.noun(), link.needs))],
                    result,
                    vec![
                        link.relied_on
                            .as_ref()
                            .map_or_else(|| text("-"), |id| Span::Code(id.clone())),
                    ],
                    vec![match &link.today {
                        None => text("-"),
                        Some(Ok(())) => Span::Status(Tone::Good, "still counts".to_string()),
                        Some(Err(why)) => Span::Flag(Tone::Bad, format!("no longer counts: {why}")),
                    }],
                ]
            })
            .collect();
        Table {
            columns: columns(&["Session", "Gate", "Needs", "Result", "Relied on", "Today"]),
            rows,
        }
    }

    /// The compared sessions side by side: each phase's (and the rollback's)
    /// actual time against its plan, matched by title, then elapsed time,
    /// failures, sign-off waits, overrides and idle gaps.
    pub fn comparison_table(&self) -> Table {
        let compared: Vec<&Report> = self
            .compared()
            .iter()
            .map(|&i| &self.sessions[i].report)
            .collect();
        let mut titles: Vec<&str> = Vec::new();
        for report in &compared {
            for g in &report.timeline.groups {
                if !titles.contains(&g.title.as_str()) {
                    titles.push(&g.title);
                }
            }
        }
        let mut rows: Vec<Vec<Cell>> = titles
            .iter()
            .map(|title| {
                let mut row = vec![vec![text(*title)]];
                row.extend(compared.iter().map(|r| {
                    let group = r.timeline.groups.iter().find(|g| g.title == *title);
                    match group.and_then(|g| g.actual().map(|actual| (actual, g.planned))) {
                        None => vec![text("-")],
                        Some((actual, None)) => vec![Span::Duration(actual)],
                        Some((actual, Some(planned))) => vec![
                            Span::Duration(actual),
                            text(" of "),
                            Span::Duration(planned),
                            text(" planned"),
                        ],
                    }
                }));
                row
            })
            .collect();
        let mut total = |label: &str, value: &dyn Fn(&Report) -> Cell| {
            let mut row = vec![vec![Span::Flag(Tone::Neutral, label.to_string())]];
            row.extend(compared.iter().map(|r| value(r)));
            rows.push(row);
        };
        let stats = |r: &Report| {
            let groups = r.timeline.groups.iter().map(|g| g.stats);
            GroupStats {
                signoff_waits: groups.clone().map(|s| s.signoff_waits).sum(),
                waited: groups.clone().map(|s| s.waited).sum(),
                failed_attempts: groups.map(|s| s.failed_attempts).sum(),
            }
        };
        total("Elapsed", &|r| vec![Span::Duration(r.session.elapsed)]);
        total("Failed attempts", &|r| vec![text(failures(&stats(r)))]);
        total("Sign-off waits", &|r| vec![text(waits(&stats(r)))]);
        total("Overrides", &|r| vec![text(r.overrides.len().to_string())]);
        total("Idle gaps", &|r| {
            vec![text(r.timeline.axis.gaps.len().to_string())]
        });
        let mut heads = vec!["Phase".to_string()];
        heads.extend(compared.iter().map(|r| column_name(r)));
        Table { columns: heads, rows }
    }

    /// Each environment with its sessions, in promotion order.
    pub fn by_environment(&self) -> Vec<(&str, Vec<&DeployedSession>)> {
        let mut out: Vec<(&str, Vec<&DeployedSession>)> = Vec::new();
        for s in &self.sessions {
            let env = s.report.session.environment.as_str();
            match out.last_mut() {
                Some((name, list)) if *name == env => list.push(s),
                _ => out.push((env, vec![s])),
            }
        }
        out
    }
}

/// A compared session's column: its environment, what it proves, its id.
fn column_name(r: &Report) -> String {
    let what = if r.rollback.is_some() { " rollback" } else { "" };
    format!("{}{what} {}", r.session.environment, r.session.id)
}

impl DeployedSession {
    /// One line about the session: who, when, how it went, what it counts as.
    pub fn line(&self) -> Cell {
        let s = &self.report.session;
        let mut cell = vec![
            Span::Code(s.id.clone()),
            text(format!(" by {}, ", s.operators.join(", "))),
            Span::Time(s.started),
            text(", "),
            Span::Duration(s.elapsed),
            text(": "),
            Span::Status(s.outcome.tone(), s.outcome.describe()),
            text(format!(", {} of {} steps", s.steps_done, s.steps_total)),
        ];
        if s.mode == Mode::DryRun {
            cell.extend([text(", "), Span::Flag(Tone::Warn, s.mode.label().to_string())]);
        }
        cell.extend([text("; "), Span::Note(self.verdict())]);
        cell
    }
}

/// The promotion gates of a session's plan, with what each found; a gate
/// the session never reached let nothing start and is left out.
fn gate_links(
    state: &SessionState,
    session: usize,
    saved: &[SessionSummary],
    runbook: &Runbook,
) -> Vec<GateLink> {
    let sha = runbook.content_hash.as_str();
    state
        .plan
        .steps()
        .filter_map(|step| match &step.kind {
            StepKind::Gate {
                gate:
                    Gate::Session {
                        environment,
                        rollback,
                    },
            } => Some((step, environment, *rollback)),
            _ => None,
        })
        .map(|(step, environment, rollback)| {
            let proof = if rollback { Proof::RollbackTest } else { Proof::Run };
            let st = state.step(&step.id);
            let result = match st.status() {
                StepStatus::Succeeded => GateResult::Passed,
                StepStatus::SignedOff => GateResult::Overridden,
                StepStatus::Pending => GateResult::NotRun,
                _ => GateResult::Failed,
            };
            let relied_on = state
                .verifications
                .iter()
                .rev()
                .find(|v| v.step == step.id && v.passed)
                .and_then(|v| gates::relied_on(&v.observed))
                .map(str::to_string);
            let today = relied_on
                .as_ref()
                .map(|id| match saved.iter().find(|s| &s.id == id) {
                    Some(s) => {
                        counts_as_evidence(s, saved, environment, runbook.pin_of(environment), proof, sha)
                    }
                    None => Err("it is no longer in the state directory".to_string()),
                });
            GateLink {
                session,
                gate: clean(&step.id),
                title: clean(&step.title),
                needs: clean(environment),
                proof,
                result,
                relied_on: relied_on.map(|id| clean(&id)),
                overridden_by: (result == GateResult::Overridden)
                    .then(|| st.signoffs().last())
                    .flatten()
                    .map(|s| clean(&format!("{}: {}", s.signature.who, s.signature.note))),
                today,
            }
        })
        .filter(|link| link.result != GateResult::NotRun)
        .collect()
}

//! The plan of one session: the ordered steps an environment runs.
//!
//! A plan is cut from the runbook when a session starts and snapshotted into
//! the journal header, so a resume, a replay or a report a week later needs
//! nothing but the journal.

use serde::{Deserialize, Serialize};

use super::model::{
    AttachRight, Environment, Estimate, Gate, Hold, Note, Phase, PhaseKind, Runbook, Step, StepKind,
};

/// The ordered phases and steps a session of one environment runs, plus the
/// rollback steps it can start on demand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub runbook_title: String,
    pub environment: String,
    pub phases: Vec<PlanPhase>,
    pub rollback: Vec<Step>,
    pub confirm: bool,
    pub signoffs: u32,
    /// The signer of a manual step must not be who ran the step before it
    /// (`separation_of_duties = true`); journals written before it have none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub separation_of_duties: bool,
    pub min_backups: u32,
    /// Stop after each phase until an operator confirms going on. Journals
    /// written before holds existed have none.
    #[serde(default, skip_serializing_if = "is_no_hold")]
    pub hold: Hold,
    /// How long a SQL statement may wait for a lock, unless its step says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_timeout: Option<std::time::Duration>,
    pub estimate: Option<Estimate>,
    pub window: Option<String>,
    pub requires: Vec<String>,
    pub requires_rollback_test: Option<String>,
    /// What attached terminals may ask besides sign-offs and notes (the
    /// runbook's `attach`); journals written before it existed have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attach: Vec<AttachRight>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPhase {
    pub kind: PhaseKind,
    pub title: String,
    pub steps: Vec<Step>,
    /// Nesting under the phases before it (0: top); a phase with a greater
    /// depth right after another belongs to it. Journals written before
    /// nested phases existed have none, so every phase is a top one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub depth: u32,
    /// The section's own admonitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

fn is_no_hold(h: &Hold) -> bool {
    *h == Hold::None
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl PlanPhase {
    fn of(p: &Phase) -> PlanPhase {
        PlanPhase {
            kind: p.kind,
            title: p.title.clone(),
            steps: p.steps.clone(),
            depth: p.depth,
            notes: p.notes.clone(),
        }
    }
}

/// The variable a shell step finds the environment's connection string in.
pub const DATABASE_URL_VARIABLE: &str = "RUNSHEET_DATABASE_URL";

/// The id prefix of the steps runsheet adds to a plan itself (promotion
/// gates); a runbook's own `{id=…}` may not use it.
pub const GENERATED_ID_PREFIX: &str = "gate.";

/// Whether `id` is (or could be) one runsheet generates.
pub fn is_generated_id(id: &str) -> bool {
    id.starts_with(GENERATED_ID_PREFIX) || id == GENERATED_ID_PREFIX.trim_end_matches('.')
}

impl Plan {
    /// The plan of `env`: shared prerequisites first, then its phases in order.
    /// Rollback phases (with the phases nested in them) are not part of the
    /// forward run; they form `rollback`.
    pub fn for_environment(runbook: &Runbook, env: &Environment) -> Plan {
        let shared = runbook.prerequisites.iter().map(PlanPhase::of);
        let mut rollback_depth: Option<u32> = None;
        let own = runbook.phases_of(env).iter().filter(|p| {
            if rollback_depth.is_some_and(|d| p.depth > d) {
                return false;
            }
            rollback_depth = (p.kind == PhaseKind::Rollback).then_some(p.depth);
            rollback_depth.is_none()
        });
        let mut phases: Vec<PlanPhase> = shared.chain(own.map(PlanPhase::of)).collect();
        add_gates(&mut phases, env);
        Plan {
            runbook_title: runbook.title.clone(),
            environment: env.name.clone(),
            phases,
            rollback: runbook.rollback_steps(env).into_iter().cloned().collect(),
            confirm: env.confirm,
            signoffs: env.signoffs.max(1),
            separation_of_duties: env.separation_of_duties,
            min_backups: env.min_backups,
            hold: env.hold,
            lock_timeout: env.lock_timeout,
            estimate: env.estimate,
            window: env.window.clone(),
            requires: env.requires.clone(),
            requires_rollback_test: env.requires_rollback_test.clone(),
            attach: runbook.attach.clone(),
        }
    }

    /// Every forward step, in run order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// Whether a step (forward or rollback) reaches the environment's
    /// database: a SQL step, or a command handed its connection string.
    pub fn uses_database(&self) -> bool {
        self.steps().chain(self.rollback.iter()).any(|s| match &s.kind {
            StepKind::Sql { .. } => true,
            StepKind::Shell { script } => script.contains(DATABASE_URL_VARIABLE),
            _ => false,
        })
    }

    /// A forward or rollback step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps().chain(self.rollback.iter()).find(|s| s.id == id)
    }

    /// The indices of a phase and the phases nested in it.
    pub fn subtree(&self, phase: usize) -> std::ops::Range<usize> {
        let Some(depth) = self.phases.get(phase).map(|p| p.depth) else {
            return phase..phase;
        };
        let len = self.phases[phase + 1..]
            .iter()
            .take_while(|p| p.depth > depth)
            .count();
        phase..phase + 1 + len
    }

    /// The phases a phase is nested in, outermost first, then the phase.
    pub fn lineage(&self, phase: usize) -> Vec<usize> {
        let mut chain = vec![phase];
        let mut depth = self.phases.get(phase).map_or(0, |p| p.depth);
        for i in (0..phase).rev() {
            if depth == 0 {
                break;
            }
            if self.phases[i].depth < depth {
                depth = self.phases[i].depth;
                chain.push(i);
            }
        }
        chain.reverse();
        chain
    }

    /// The phase index a forward step belongs to.
    pub fn phase_of(&self, id: &str) -> Option<usize> {
        self.phases
            .iter()
            .position(|p| p.steps.iter().any(|s| s.id == id))
    }

    /// Keep only the steps a `--only` filter selects, so the quick-start
    /// menu's modes map onto sessions: `verify` (the checks only),
    /// `phase:N` (steps whose id names remediation phase N, e.g.
    /// `{id=production.phase3-run}`), or `step:ID` (one step, or every step whose
    /// id starts with ID). Phases left empty are dropped.
    pub fn only(mut self, filter: &str) -> Result<Plan, String> {
        let filter = filter.trim();
        let keep: Box<dyn Fn(&Step) -> bool> = match filter.split_once(':') {
            None if filter == "verify" => Box::new(|s: &Step| s.verify),
            Some(("phase", n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                let wanted = format!("phase{n}");
                Box::new(move |s: &Step| {
                    // `phase3`, `phase-3` or `phase_3` anywhere in the id.
                    let tokens: Vec<&str> = s.id.split(['.', '-', '_']).collect();
                    tokens.iter().any(|t| *t == wanted)
                        || tokens.windows(2).any(|w| w[0] == "phase" && w[1] == n)
                })
            }
            Some(("step", id)) if !id.is_empty() => {
                let id = id.to_string();
                Box::new(move |s: &Step| s.id.starts_with(&id))
            }
            _ => {
                return Err(format!(
                    "--only {filter:?} is not a filter runsheet knows; use verify, phase:N or step:ID"
                ));
            }
        };
        for phase in &mut self.phases {
            phase.steps.retain(|s| keep(s));
        }
        // Keep a group while a phase nested in it keeps steps.
        let keep_phase: Vec<bool> = (0..self.phases.len())
            .map(|i| {
                let depth = self.phases[i].depth;
                !self.phases[i].steps.is_empty()
                    || self.phases[i + 1..]
                        .iter()
                        .take_while(|p| p.depth > depth)
                        .any(|p| !p.steps.is_empty())
            })
            .collect();
        let mut keep_phase = keep_phase.into_iter();
        self.phases.retain(|_| keep_phase.next().unwrap_or(false));
        if self.phases.is_empty() {
            return Err(format!(
                "--only {filter} selects no step of environment {}",
                self.environment
            ));
        }
        Ok(self)
    }
}

/// A gate step: automatic, checked by the engine, shown like any other step.
fn gate_step(id: String, title: String, body: String, gate: Gate) -> Step {
    Step {
        body,
        readonly: true,
        ..Step::new(id, title, StepKind::Gate { gate })
    }
}

/// Put the environment's promotion gates into the plan: evidence from
/// earlier sessions among the prerequisites, the backup count at the start
/// of execution (backups are made during preparation).
fn add_gates(phases: &mut Vec<PlanPhase>, env: &Environment) {
    let mut session_gates: Vec<Step> = env
        .requires
        .iter()
        .map(|required| {
            gate_step(
                format!("{GENERATED_ID_PREFIX}requires.{required}"),
                format!("Gate: {required} went well with this runbook"),
                format!(
                    "{} may only go ahead after a completed, successful, live (not dry-run) session \
                     of this same runbook content in **{required}**. runsheet looks for it in the saved \
                     journals and shows the evidence; a gate can only be overridden with a signed reason.",
                    env.name
                ),
                Gate::Session {
                    environment: required.clone(),
                    rollback: false,
                },
            )
        })
        .collect();
    if let Some(rehearsal) = &env.requires_rollback_test {
        session_gates.push(gate_step(
            format!("{GENERATED_ID_PREFIX}rollback-test.{rehearsal}"),
            format!("Gate: the rollback was rehearsed in {rehearsal}"),
            format!(
                "The rollback plan asks for a rollback test in {rehearsal} before {}: a live session \
                 of this runbook in **{rehearsal}** in which the Rollback section ran to completion.",
                env.name
            ),
            Gate::Session {
                environment: rehearsal.clone(),
                rollback: true,
            },
        ));
    }
    if !session_gates.is_empty() {
        match phases.iter_mut().find(|p| p.kind == PhaseKind::Prerequisites) {
            Some(pre) => pre.steps.extend(session_gates),
            None => phases.insert(
                0,
                PlanPhase {
                    kind: PhaseKind::Prerequisites,
                    title: "Promotion gates".into(),
                    steps: session_gates,
                    depth: 0,
                    notes: Vec::new(),
                },
            ),
        }
    }
    if env.min_backups > 0 {
        let min = env.min_backups;
        let step = gate_step(
            format!("{GENERATED_ID_PREFIX}backups"),
            format!("Gate: {min} verified backup(s) made in this session"),
            format!(
                "Execution may only start after at least {min} backup step(s) (`{{backup}}`) succeeded \
                 in this session."
            ),
            Gate::Backups { min },
        );
        let target = phases
            .iter()
            .position(|p| p.kind == PhaseKind::Execution)
            .map(|i| (i, 0))
            .or_else(|| {
                phases
                    .iter()
                    .rposition(|p| p.kind == PhaseKind::Preparation)
                    .map(|i| (i, phases[i].steps.len()))
            });
        match target {
            Some((i, at)) => phases[i].steps.insert(at, step),
            None => phases.push(PlanPhase {
                kind: PhaseKind::Execution,
                title: "Backups".into(),
                steps: vec![step],
                depth: 0,
                notes: Vec::new(),
            }),
        }
    }
}

//! The plan of one session: the ordered steps an environment runs.
//!
//! A plan is cut from the runbook when a session starts and snapshotted into
//! the journal header, so a resume, a replay or a report a week later needs
//! nothing but the journal.

use serde::{Deserialize, Serialize};

use super::model::{Environment, Estimate, PhaseKind, Runbook, Step};

/// The ordered phases and steps a session of one environment runs, plus the
/// rollback steps it can start on demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub runbook_title: String,
    pub environment: String,
    pub phases: Vec<PlanPhase>,
    pub rollback: Vec<Step>,
    pub confirm: bool,
    pub signoffs: u32,
    pub min_backups: u32,
    pub estimate: Option<Estimate>,
    pub window: Option<String>,
    pub requires: Vec<String>,
    pub requires_rollback_test: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPhase {
    pub kind: PhaseKind,
    pub title: String,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The plan of `env`: shared prerequisites first, then its phases in order.
    /// Rollback phases are not part of the forward run; they form `rollback`.
    pub fn for_environment(runbook: &Runbook, env: &Environment) -> Plan {
        let shared = runbook.prerequisites.iter().map(|p| PlanPhase {
            kind: PhaseKind::Prerequisites,
            title: p.title.clone(),
            steps: p.steps.clone(),
        });
        let own = env
            .phases
            .iter()
            .filter(|p| p.kind != PhaseKind::Rollback)
            .map(|p| PlanPhase {
                kind: p.kind,
                title: p.title.clone(),
                steps: p.steps.clone(),
            });
        Plan {
            runbook_title: runbook.title.clone(),
            environment: env.name.clone(),
            phases: shared.chain(own).collect(),
            rollback: runbook.rollback_steps(env).to_vec(),
            confirm: env.confirm,
            signoffs: env.signoffs.max(1),
            min_backups: env.min_backups,
            estimate: env.estimate,
            window: env.window.clone(),
            requires: env.requires.clone(),
            requires_rollback_test: env.requires_rollback_test.clone(),
        }
    }

    /// Every forward step, in run order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// A forward or rollback step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps().chain(self.rollback.iter()).find(|s| s.id == id)
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
    /// `{id=phase3-schema}`), or `step:ID` (one step, or every step whose
    /// id starts with ID). Phases left empty are dropped.
    pub fn only(mut self, filter: &str) -> Result<Plan, String> {
        let filter = filter.trim();
        let keep: Box<dyn Fn(&Step) -> bool> = match filter.split_once(':') {
            None if filter == "verify" => Box::new(|s: &Step| s.verify),
            Some(("phase", n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                let prefixes = [format!("phase{n}"), format!("phase-{n}")];
                Box::new(move |s: &Step| {
                    s.id.split('.').any(|segment| {
                        prefixes.iter().any(|p| {
                            segment
                                .strip_prefix(p.as_str())
                                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
                        })
                    })
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
        self.phases.retain(|p| !p.steps.is_empty());
        if self.phases.is_empty() {
            return Err(format!(
                "--only {filter} selects no step of environment {}",
                self.environment
            ));
        }
        Ok(self)
    }
}

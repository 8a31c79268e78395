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
}

//! The report as JSON for other tools. The shape is documented field by
//! field in `docs/report-json.md` and versioned by `"format"`; it is written
//! out explicitly here (not derived from the Rust types) so that renaming a
//! field in the code can never change it by accident.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::deployment::Deployment;
use super::{Report, SignOffReport, StepReport, json_name};
use crate::journal::event::Mode;
use crate::session::Attempt;

/// Version of the report's JSON shape; raised only when a field changes
/// meaning or disappears (new fields may be added within a version).
pub const FORMAT: u32 = 1;

/// Render the report as pretty-printed JSON, with a final newline.
pub fn render(report: &Report) -> String {
    pretty(&value(report))
}

/// Render the deployment report as pretty-printed JSON, with a final newline.
pub fn render_deployment(d: &Deployment) -> String {
    pretty(&deployment_value(d))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

/// The deployment report as a JSON value (docs/report-json.md, `deployment`).
pub fn deployment_value(d: &Deployment) -> Value {
    let id = |i: Option<usize>| i.map(|i| d.sessions[i].report.session.id.clone());
    json!({
        "format": FORMAT,
        "runbook": {
            "title": d.title,
            "path": d.runbook_path,
            "sha256": d.runbook_sha256,
        },
        "intact": d.intact(),
        "environments": d.environments.iter().map(|e| json!({
            "name": e.name,
            "requires": e.requires,
            "rehearsal_needed": e.rehearsal_needed,
            "proven_by": id(e.proven_by),
            "rehearsed_by": id(e.rehearsed_by),
            "sessions": d.sessions.iter()
                .filter(|s| s.report.session.environment == e.name)
                .map(|s| s.report.session.id.clone())
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "sessions": d.sessions.iter().map(|s| json!({
            "id": s.report.session.id,
            "environment": s.report.session.environment,
            "counts_as": s.counts_as().map(|p| json_name(p.noun())),
            "evidence": s.evidence.iter().map(|(proof, verdict)| json!({
                "proof": json_name(proof.noun()),
                "counts": verdict.is_ok(),
                "why_not": verdict.as_ref().err(),
            })).collect::<Vec<_>>(),
            "report": value(&s.report),
        })).collect::<Vec<_>>(),
        "chain": d.chain.iter().map(|link| json!({
            "session": d.sessions[link.session].report.session.id,
            "gate": link.gate,
            "title": link.title,
            "needs": link.needs,
            "proof": json_name(link.proof.noun()),
            "result": json_name(link.result.label()),
            "relied_on": link.relied_on,
            "overridden_by": link.overridden_by,
            "still_counts": link.today.as_ref().map(Result::is_ok),
            "why_not": link.today.as_ref().and_then(|t| t.as_ref().err()),
        })).collect::<Vec<_>>(),
        "unreadable": d.unreadable.iter().map(|(path, reason)| json!({
            "path": path,
            "reason": reason,
        })).collect::<Vec<_>>(),
    })
}

/// The report as a JSON value.
pub fn value(report: &Report) -> Value {
    let s = &report.session;
    json!({
        "format": FORMAT,
        "session": {
            "id": s.id,
            "runbook_title": s.runbook_title,
            "runbook_path": s.runbook_path,
            "runbook_sha256": s.runbook_sha256,
            "environment": s.environment,
            "mode": match s.mode { Mode::Live => "live", Mode::DryRun => "dry-run" },
            "only": s.only,
            "kind": s.kind,
            "operators": s.operators,
            "host": s.host,
            "runsheet_version": s.runsheet_version,
            "started": time(s.started),
            "ended": s.ended.map(time),
            "last_event": time(s.last_event),
            "elapsed_ms": ms(s.elapsed),
            "estimate": s.estimate.map(|e| json!({ "min_ms": ms(e.min), "max_ms": ms(e.max) })),
            "window": s.window,
            "outcome": s.outcome.slug(),
            "outcome_reason": match &s.outcome {
                super::SessionEnd::Ended { reason, .. } => reason.clone(),
                _ => None,
            },
            "confirmed_by": s.confirmed_by,
            "steps_done": s.steps_done,
            "steps_total": s.steps_total,
            "resumes": s.resumes.iter().map(|r| json!({ "at": time(r.at), "who": r.who })).collect::<Vec<_>>(),
            "holds": s.holds.iter().map(|h| json!({
                "phase": h.phase,
                "reached": h.reached.map(time),
                "released": h.released.as_ref().map(|r| time(r.at)),
                "released_by": h.released.as_ref().map(|r| r.who.clone()),
                "preapproved": h.released.as_ref().is_some_and(|r| r.preapproved),
            })).collect::<Vec<_>>(),
            "targets": s.targets.iter().map(|t| json!({
                "since": t.since.map(time),
                "host": t.target.host,
                "port": t.target.port,
                "database": t.target.database,
                "user": t.target.user,
                "server_version": t.target.server_version,
                "system_identifier": t.target.system_identifier,
            })).collect::<Vec<_>>(),
        },
        "integrity": {
            "verified": report.integrity.broken.is_none(),
            "events": report.integrity.events,
            "broken_at_line": report.integrity.broken.as_ref().map(|(line, _)| *line),
            "reason": report.integrity.broken.as_ref().map(|(_, reason)| reason.clone()),
        },
        "overrides": report.overrides.iter().map(|o| json!({
            "step": o.step,
            "title": o.title,
            "kind": o.kind,
            "signoffs": o.signoffs.iter().map(signoff).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "failures": report.failures.iter().map(|f| json!({
            "step": f.step,
            "title": f.title,
            "kind": f.kind,
            "status": json_name(f.status.label()),
            "failed_attempts": f.failed_attempts.iter().map(failed_attempt).collect::<Vec<_>>(),
            "resolution": f.resolution,
            "output_lines": f.output_lines,
        })).collect::<Vec<_>>(),
        "phases": report.phases.iter().map(|p| json!({
            "title": p.title,
            "kind": serde_json::to_value(p.kind).unwrap_or(Value::Null),
            "planned_ms": p.planned.map(ms),
            "actual_ms": p.actual.map(ms),
            "steps_done": p.done,
            "steps_total": p.steps.len(),
            "signoff_waits": p.stats.signoff_waits,
            "signoff_wait_ms": ms(p.stats.waited),
            "failed_attempts": p.stats.failed_attempts,
            "steps": p.steps.iter().map(step).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "idle_gaps": report.timeline.axis.gaps.iter().map(|g| json!({
            "from": time(g.from),
            "to": time(g.to),
            "real_ms": g.real_ms().max(0),
            "shown_ms": g.shown_ms,
        })).collect::<Vec<_>>(),
        "unplanned_steps": report.unplanned_steps.iter().map(step).collect::<Vec<_>>(),
        "verifications": report.verifications.iter().map(|v| json!({
            "at": time(v.at),
            "step": v.step,
            "attempt": v.attempt,
            "name": v.name,
            "passed": v.passed,
            "observed": {
                "columns": v.observed.columns,
                "rows": v.observed.rows,
                "text": v.observed.text,
            },
        })).collect::<Vec<_>>(),
        "rollback": report.rollback.as_ref().map(|r| json!({
            "started": time(r.started),
            "who": r.who,
            "reason": r.reason,
            "finished": r.finished.map(time),
            "outcome": r.outcome.map(|o| json_name(o.label())),
            "steps": r.steps.iter().map(step).collect::<Vec<_>>(),
        })),
        "notes": report.notes.iter().map(|n| json!({
            "at": time(n.at),
            "who": n.who,
            "text": n.text,
        })).collect::<Vec<_>>(),
        "warnings": report.warnings.iter().map(|w| json!({
            "at": w.at.map(time),
            "code": w.code,
            "message": w.message,
        })).collect::<Vec<_>>(),
    })
}

fn step(s: &StepReport) -> Value {
    json!({
        "id": s.id,
        "title": s.title,
        "kind": s.kind,
        "status": json_name(s.status.label()),
        "overridden": s.overridden,
        "attempts": s.attempts.iter().map(attempt).collect::<Vec<_>>(),
        "signoffs": s.signoffs.iter().map(signoff).collect::<Vec<_>>(),
        "skip": s.skip.as_ref().map(|k| json!({
            "who": k.who,
            "at": time(k.at),
            "reason": k.reason,
        })),
        "duration_ms": s.duration.map(ms),
        "output_lines": s.output_lines,
        "signoff_wait": s.wait.map(|w| json!({
            "from": time(w.from),
            "to": time(w.to),
            "ms": ms(w.duration()),
            "open": w.open,
        })),
    })
}

fn attempt(a: &Attempt) -> Value {
    json!({
        "number": a.number,
        "started": time(a.started),
        "finished": a.finished.map(time),
        "outcome": a.outcome.map(|o| json_name(o.label())),
        "exit_code": a.exit_code,
        "duration_ms": a.duration.map(ms),
        "error": a.error,
        "interrupted": a.interrupted,
    })
}

/// A failed or interrupted attempt: the attempt and its own output's tail.
fn failed_attempt(a: &Attempt) -> Value {
    let mut value = attempt(a);
    if let Value::Object(fields) = &mut value {
        fields.insert("output_lines".into(), json!(a.output_lines));
        fields.insert(
            "log_tail".into(),
            a.tail
                .iter()
                .map(|(stream, text)| json!({ "stream": stream.label(), "text": text }))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    value
}

fn signoff(s: &SignOffReport) -> Value {
    json!({
        "who": s.who,
        "role": s.role,
        "at": time(s.at),
        "note": s.note,
        "preapproved": s.preapproved,
        "seat": s.seat,
        "same_seat_as": s.same_seat_as,
    })
}

/// RFC 3339 UTC with milliseconds: `2026-11-24T02:15:03.123Z`.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::Proof;
    use crate::journal::event::{Outcome, SessionOutcome};
    use crate::report::deployment::GateResult;
    use crate::session::StepStatus;

    /// Every name derived from a label is one docs/report-json.md lists, so
    /// rewording a label cannot change the JSON unnoticed.
    #[test]
    fn json_names_are_the_documented_values() {
        let doc = include_str!("../../docs/report-json.md");
        let sets = doc
            .split("\n## Value sets\n")
            .nth(1)
            .expect("a value sets section");
        let documented = |set: &str, label: &str| {
            let row = sets
                .lines()
                .find(|l| l.starts_with(&format!("| `{set}` |")))
                .unwrap_or_else(|| panic!("value set {set} is documented"));
            let name = json_name(label);
            assert!(row.contains(&format!("`{name}`")), "{name} is not in {row}");
        };
        {
            use StepStatus::*;
            let waiting = [Pending, Running, AwaitingSignOff, Interrupted];
            let ended = [Succeeded, Failed, TimedOut, Cancelled, SignedOff, Skipped];
            for status in waiting.into_iter().chain(ended) {
                documented("step-status", status.label());
            }
        }
        {
            use Outcome::*;
            for outcome in [Succeeded, Failed, TimedOut, Cancelled] {
                documented("attempt-outcome", outcome.label());
            }
        }
        {
            use SessionOutcome::*;
            for outcome in [Completed, Failed, Aborted, RolledBack] {
                documented("session-outcome", outcome.label());
            }
        }
        for proof in [Proof::Run, Proof::RollbackTest] {
            documented("proof", proof.noun());
        }
        use GateResult::*;
        for result in [Passed, Overridden, Failed, NotRun] {
            documented("gate-result", result.label());
        }
    }
}

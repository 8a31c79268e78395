//! Which processes a step left running, read from `/proc`: a step's
//! process group while it is being stopped, and, when a session resumes,
//! whatever an earlier runsheet of the session left behind (it was killed,
//! or its machine's runsheet died), so nothing runs twice at once.

/// A live process: its pid and process group.
struct Proc {
    pid: i32,
    pgrp: i32,
}

/// Every live process (zombies excluded: dead, merely not yet reaped);
/// `None` without a readable `/proc`.
fn live_processes() -> Option<Vec<Proc>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut out = Vec::new();
    let mut seen_any = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        seen_any = true;
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let Some(pgrp) = fields.nth(1).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !matches!(state, "Z" | "X") {
            out.push(Proc { pid, pgrp });
        }
    }
    seen_any.then_some(out)
}

/// Whether any process of group `pgid` is still running.
pub fn has_live_members(pgid: i32) -> bool {
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    // Without a readable /proc, trust kill(2).
    live_processes().is_none_or(|procs| procs.iter().any(|p| p.pgrp == pgid))
}

/// Live processes started for session `session_id` (they carry
/// `RUNSHEET_SESSION=<id>` in their environment, as every shell step
/// does), whatever group they moved to: `(pid, pgid)`.
pub fn session_processes(session_id: &str) -> Vec<(i32, i32)> {
    let marker = format!("RUNSHEET_SESSION={session_id}");
    let me = std::process::id() as i32;
    live_processes()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.pid != me)
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
        })
        .map(|p| (p.pid, p.pgrp))
        .collect()
}

//! Running a child process and reading its peak resident memory from the
//! kernel's own account: `wait4`'s `ru_maxrss`, which is the child's VmHWM
//! as it exited (reading /proc while it runs could miss the last peak).

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a measured child ran.
pub struct Measured {
    pub status: ExitStatus,
    /// From spawning to reaping.
    pub wall: Duration,
    /// Peak resident memory, kB.
    pub peak_kb: u64,
    /// Standard output and error, when the command piped them.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Measured {
    pub fn peak_mib(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }
}

/// Run `cmd` to its end; piped output is drained while it runs.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which std does not offer"
)]
pub fn run_measured(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and both pointers refer to
    // live locals for the duration of the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: see above; `pid` is our own unreaped child (std never waits for it).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    assert_eq!(reaped, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let wall = start.elapsed();
    Measured {
        status: ExitStatus::from_raw(status),
        wall,
        peak_kb: usage.ru_maxrss.max(0) as u64,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

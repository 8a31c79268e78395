//! Notifications: the front matter's `notify` command and `notify_url`
//! webhook hear of the events a team cares about (session started, step
//! failed, sign-off awaited, phase done, session ended), with the JSON
//! payload of [`payload`] (documented in `docs/notify.md`).
//!
//! Off the engine's path: the engine only builds the payload (redacted)
//! and offers it to a bounded queue ([`QUEUE`]) without waiting; a thread of
//! its own sends them, one at a time, each given [`TIMEOUT`] before the
//! command's process group is killed or the request dropped. A full queue
//! drops the notification. Nothing about notifying is ever fatal: each
//! failure (and each drop) comes back to the engine, which journals it as a
//! `warning` with the code [`NOTIFY_FAILED`] (shown by the checklist and the
//! headless lines, kept in the audit trail). Once the engine is gone (the
//! session ended and its journal is sealed, or the operator left), what is
//! still queued gets [`TIMEOUT`] in all, and failures then are written to
//! stderr when the process ends ([`finish`]).

mod deliver;
pub mod payload;

use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::journal::event::Record;
use crate::runbook::model::Notify;
use crate::secrets::Redactor;
use crate::session::SessionState;
use payload::{Payload, Watcher};

/// How long one notification may take (a command to exit, a webhook to answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Notifications waiting to be sent; more are dropped (and that is journaled).
pub const QUEUE: usize = 32;
/// The `warning` code of a notification that failed or was dropped.
pub const NOTIFY_FAILED: &str = "notify-failed";

/// Failures sent back to the engine and not yet taken.
const FAILURES: usize = 16;

/// Senders still at work when the process ends: [`finish`] waits for them.
static SENDERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
/// Failures no engine can journal any more, for [`finish`] to print.
static LATE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keep `failures` for [`finish`], their secrets masked (no journal's
/// redaction comes after this).
fn late(redactor: &Redactor, failures: impl IntoIterator<Item = String>) {
    let masked = failures.into_iter().map(|f| redactor.redact(&f).into_owned());
    LATE.lock().unwrap_or_else(|p| p.into_inner()).extend(masked);
}

/// One payload, ready to go.
struct Message {
    kind: String,
    json: String,
}

/// The engine's side: what to send and what went wrong.
pub struct Notifier {
    watcher: Watcher,
    queue: mpsc::Sender<Message>,
    failures: mpsc::Receiver<String>,
    /// Notifications dropped on a full queue since last reported.
    dropped: usize,
    /// The secrets known at the start, for failures printed at the end.
    redactor: Redactor,
}

impl Notifier {
    /// Start sending `notify`'s notifications for the session opened as
    /// `state` (commands run in `workdir`), announcing its start; `None` when
    /// the runbook asks for none.
    pub fn start(
        notify: &Notify,
        workdir: PathBuf,
        state: &SessionState,
        redactor: &Redactor,
    ) -> Option<Notifier> {
        if notify.is_off() {
            return None;
        }
        let (queue, pending) = mpsc::channel(QUEUE);
        let (report, failures) = mpsc::channel(FAILURES);
        let (notify, masks) = (notify.clone(), redactor.clone());
        let spawned = std::thread::Builder::new()
            .name("runsheet-notify".into())
            .spawn(move || send_all(notify, workdir, pending, report, &masks));
        let sender = match spawned {
            Ok(sender) => sender,
            Err(e) => {
                eprintln!("runsheet: notifications are off: cannot start their thread: {e}");
                return None;
            }
        };
        SENDERS.lock().unwrap_or_else(|p| p.into_inner()).push(sender);
        let mut notifier = Notifier {
            watcher: Watcher::new(state),
            queue,
            failures,
            dropped: 0,
            redactor: redactor.clone(),
        };
        let started = notifier.watcher.started(state, chrono::Utc::now());
        notifier.offer(started, redactor);
        Some(notifier)
    }

    /// `record` was journaled and folded into `state`: queue what it calls for.
    pub fn observe(&mut self, state: &SessionState, record: &Record, redactor: &Redactor) {
        if let Some(payload) = self.watcher.on_record(state, record) {
            self.offer(payload, redactor);
        }
    }

    fn offer(&mut self, payload: Payload, redactor: &Redactor) {
        let payload = payload.redacted(redactor);
        let message = Message {
            kind: payload::label(&payload.kind),
            json: payload.to_json(),
        };
        if self.queue.try_send(message).is_err() {
            self.dropped += 1;
        }
    }

    /// What went wrong since last asked, as warning messages, without waiting.
    pub fn failures(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(failure) = self.failures.try_recv() {
            out.push(failure);
        }
        if self.dropped > 0 {
            out.push(format!(
                "{} notification(s) dropped: the notifier is slower than the session (at most {QUEUE} wait)",
                std::mem::take(&mut self.dropped)
            ));
        }
        out
    }
}

impl Drop for Notifier {
    /// The engine is done: what it did not journal is printed at the end.
    fn drop(&mut self) {
        let failures = self.failures();
        late(&self.redactor, failures);
    }
}

/// The sender thread: every queued notification to the command and the
/// webhook, in order. Failures go back to the engine while it listens;
/// those after it has gone are kept for [`finish`].
fn send_all(
    notify: Notify,
    workdir: PathBuf,
    mut pending: mpsc::Receiver<Message>,
    report: mpsc::Sender<String>,
    redactor: &Redactor,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            return late(
                redactor,
                [format!("notifications are off: cannot start their runtime: {e}")],
            );
        }
    };
    runtime.block_on(async {
        // Set once the engine is gone: what is left must be sent by then.
        let mut deadline: Option<Instant> = None;
        while let Some(message) = pending.recv().await {
            if report.is_closed() {
                deadline.get_or_insert_with(|| Instant::now() + TIMEOUT);
            }
            let mut failures = Vec::new();
            if let Some(command) = &notify.command {
                let sent = match time_left(deadline) {
                    Some(limit) => {
                        deliver::run_command(command, &workdir, &message.kind, &message.json, limit).await
                    }
                    None => Err(OUT_OF_TIME.to_string()),
                };
                failures.extend(
                    sent.err()
                        .map(|why| format!("{} notification by `notify` failed: {why}", message.kind)),
                );
            }
            if let Some(url) = &notify.url {
                let sent = match time_left(deadline) {
                    Some(limit) => deliver::post(url, &message.json, limit).await,
                    None => Err(OUT_OF_TIME.to_string()),
                };
                failures.extend(sent.err().map(|why| {
                    format!(
                        "{} notification to notify_url ({}) failed: {why}",
                        message.kind,
                        url.place()
                    )
                }));
            }
            for failure in failures {
                if let Err(mpsc::error::TrySendError::Full(f) | mpsc::error::TrySendError::Closed(f)) =
                    report.try_send(failure)
                {
                    late(redactor, [f]);
                }
            }
        }
    });
}

/// Why a notification queued at a session's end was not sent.
const OUT_OF_TIME: &str = "not sent: the session was over and earlier notifications took the time left";

/// How long the next delivery may take: [`TIMEOUT`], or what is left
/// before `deadline`; `None` once it has passed.
fn time_left(deadline: Option<Instant>) -> Option<Duration> {
    let limit = deadline.map_or(TIMEOUT, |d| d.saturating_duration_since(Instant::now()));
    (!limit.is_zero()).then_some(limit.min(TIMEOUT))
}

/// Wait for the notifications still being sent (each sender stops within
/// [`TIMEOUT`] of its session's end), then write their failures to stderr:
/// called as the process ends, after the checklist has left the screen.
pub fn finish() {
    let senders = std::mem::take(&mut *SENDERS.lock().unwrap_or_else(|p| p.into_inner()));
    for sender in senders {
        let _ = sender.join();
    }
    for failure in std::mem::take(&mut *LATE.lock().unwrap_or_else(|p| p.into_inner())) {
        eprintln!("runsheet: {failure}");
    }
}

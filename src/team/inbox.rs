//! The driver's side of attached terminals in a team session: the
//! session's `runsheet.commands` rows, consumed in seq order, each turned
//! into a command as its sender ([`Request::command`]), judged by what an
//! attached terminal may ask ([`rules::attached_may`]: everything once it
//! took the seat of a driver whose terminal is gone) and handed to the
//! engine's inbox with the row's origin, where `decide` rules on it as on
//! the driver's own keyboard; the row is settled consumed or refused with
//! the reason. Rows that cannot be read as a request are refused, never
//! skipped. While the journal database is away, commands wait in it.
//!
//! Rows are looked at on every notification on [`COMMAND_CHANNEL`] for the
//! session, and every [`POLL`] in case one was lost. Every [`PRESENCE`],
//! who is connected goes to the driver's front end.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::Notification;

use crate::engine::inbox::RemoteInbox;
use crate::journal::postgres::commands::{CommandRow, Settlement};
use crate::journal::postgres::presence::{Present, Role};
use crate::journal::postgres::{COMMAND_CHANNEL, JournalConnection, JournalDb, PgError};
use crate::runbook::model::AttachRight;
use crate::seat::Origin;
use crate::session::attached::Request;
use crate::session::{Command, Update, rules};

/// How often the commands table is read without a notification.
pub const POLL: Duration = Duration::from_millis(500);
/// How often who is connected is looked at again.
pub const PRESENCE: Duration = Duration::from_secs(2);
/// The wait before connecting again after the journal database went away.
const RECONNECT: Duration = Duration::from_secs(1);

/// Consumes one session's commands for its engine.
pub struct Consumer {
    pub db: JournalDb,
    pub session: String,
    /// What the runbook lets attached terminals do besides signing and notes.
    pub allows: Vec<AttachRight>,
    pub engine: RemoteInbox,
    /// The driver's front end, told who is connected. Weak: the front end
    /// sees its updates end when the engine's do, whatever this task does.
    pub updates: mpsc::WeakSender<Update>,
    /// The attached terminal holding the driver's seat, whose every
    /// command the rules take as the driver's (the engine decides each).
    pub driving: Mutex<Option<Origin>>,
}

/// A command the engine has decided on but whose row is not settled yet
/// (the connection went away in between): settled as decided on the next
/// connection, never handed to the engine twice.
struct Unsettled {
    seq: u64,
    settlement: Settlement,
}

impl Consumer {
    /// Run until the engine takes no more commands.
    pub async fn run(self) {
        let mut unsettled: Option<Unsettled> = None;
        while self.engine.is_open() {
            // A journal database away is said by the driver's journal (the
            // tee sees it too); commands wait for it in the table.
            if self.connected(&mut unsettled).await.is_err() {
                tokio::time::sleep(RECONNECT).await;
            }
        }
    }

    /// Consume on one connection until it fails or the engine closes.
    async fn connected(&self, unsettled: &mut Option<Unsettled>) -> Result<(), PgError> {
        let (tx, mut notes) = mpsc::channel::<Notification>(64);
        let conn = self.db.connect_listening(tx).await?;
        conn.client()
            .batch_execute(&format!("LISTEN {COMMAND_CHANNEL}"))
            .await
            .map_err(|e| conn.error("listen for commands", &e))?;
        let mut presence = tokio::time::interval(PRESENCE);
        presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !self.engine.is_open() || !self.consume_pending(&conn, unsettled).await? {
                return Ok(());
            }
            tokio::select! {
                note = notes.recv() => {
                    if note.is_none() {
                        return Err(PgError::Unavailable {
                            target: conn.target().to_string(),
                            reason: "the connection for commands ended".into(),
                        });
                    }
                    while notes.try_recv().is_ok() {}
                }
                _ = presence.tick() => {
                    let present = conn.present(&self.session).await?;
                    self.seat_holder_gone(&present).await;
                    if let Some(updates) = self.updates.upgrade() {
                        let _ = updates.try_send(Update::Presence(present));
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Settle every pending command in order; false once the engine is gone.
    async fn consume_pending(
        &self,
        conn: &JournalConnection,
        unsettled: &mut Option<Unsettled>,
    ) -> Result<bool, PgError> {
        while let Some(row) = conn.next_command(&self.session).await? {
            let settlement = match unsettled.take() {
                Some(u) if u.seq == row.seq => u.settlement,
                _ => match self.decide(row.clone()).await {
                    Some(settlement) => settlement,
                    None => return Ok(false),
                },
            };
            *unsettled = Some(Unsettled {
                seq: row.seq,
                settlement: settlement.clone(),
            });
            conn.settle_command(&self.session, row.seq, &settlement).await?;
            *unsettled = None;
        }
        Ok(true)
    }

    /// What the rules make of a row; `None` when the engine takes no more
    /// commands (the row stays pending for the session's next driver).
    async fn decide(&self, row: CommandRow) -> Option<Settlement> {
        let command = match Request::parse(&row.command) {
            Ok(request) => request.command(&row.origin.operator, &row.origin.seat),
            Err(reason) => return Some(Settlement::Refused(reason)),
        };
        let driving = self.seat_holder().as_ref() == Some(&row.origin);
        if let Err(refusal) = rules::attached_may(&command, driving, &self.allows) {
            return Some(Settlement::Refused(refusal.to_string()));
        }
        let taking = matches!(command, Command::TakeDriverSeat { .. });
        let leaving = driving && matches!(command, Command::DriverGone { .. });
        match self.engine.ask(command, row.origin.clone()).await {
            Ok(Ok(())) => {
                if taking || leaving {
                    *self.driving.lock().unwrap_or_else(|p| p.into_inner()) = taking.then_some(row.origin);
                }
                Some(Settlement::Consumed)
            }
            Ok(Err(refusal)) => Some(Settlement::Refused(refusal.to_string())),
            Err(_) => None,
        }
    }

    /// A terminal holding the driver's seat that is no longer connected
    /// (killed, cut off) gives it up, as one that leaves does: the session
    /// goes on without a screen, and another terminal may take the seat.
    async fn seat_holder_gone(&self, present: &[Present]) {
        let Some(holder) = self.seat_holder() else {
            return;
        };
        if present
            .iter()
            .any(|p| p.role == Role::Attached && p.origin == holder)
        {
            return;
        }
        let gone = Command::DriverGone {
            who: holder.operator.clone(),
            reason: "the attached terminal holding the seat is no longer connected".into(),
            seat: Some(holder.seat.clone()),
        };
        if matches!(self.engine.ask(gone, holder).await, Ok(Ok(()))) {
            *self.driving.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// The terminal that took the driver's seat through the journal and has not left it.
    fn seat_holder(&self) -> Option<Origin> {
        self.driving.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

//! What an attached terminal asks of a session it does not drive, as the
//! request travels (JSON in a `runsheet.commands` row), and how it becomes
//! a [`Command`] for [`super::rules::decide`]. What an attached terminal may
//! ask at all is one rule for every transport, [`super::rules::attached_may`].
//!
//! Every attached terminal may sign the manual step that waits for
//! sign-offs, add notes and take the seat of a driver whose terminal is
//! gone; pausing and aborting need the runbook's front matter to allow
//! them (`attach = ["pause", "abort"]`) until it holds the driver's seat,
//! and then it may ask whatever the driver may (`drive`). The names in the
//! commands are the sender's operator name, never one the request carries,
//! so a terminal signs and writes only as itself. Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::protocol::Command;
use crate::journal::event::Signature;
use crate::seat::Seat;

/// A request from an attached terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Sign `step`, which waits for sign-offs.
    SignOff {
        step: String,
        #[serde(default)]
        role: String,
        #[serde(default)]
        note: String,
    },
    Note {
        text: String,
    },
    /// Start no new step (the running one goes on).
    Pause,
    /// End the session (a running step is stopped first).
    Abort {
        #[serde(default)]
        reason: String,
    },
    /// Take the seat of a driver whose terminal is gone.
    TakeDriverSeat,
    /// Anything else the driver may do, for the terminal holding its seat;
    /// the names in `command` are replaced by the sender's.
    Drive {
        command: Command,
    },
}

impl Request {
    /// The request that carries `command` from an attached terminal.
    pub fn of(command: &Command) -> Request {
        match command {
            Command::SignOff { step, signature } => Request::SignOff {
                step: step.clone(),
                role: signature.role.clone(),
                note: signature.note.clone(),
            },
            Command::Note { text, .. } => Request::Note { text: text.clone() },
            Command::Pause { .. } => Request::Pause,
            Command::Abort { reason, .. } => Request::Abort {
                reason: reason.clone(),
            },
            Command::TakeDriverSeat { .. } => Request::TakeDriverSeat,
            other => Request::Drive {
                command: other.clone(),
            },
        }
    }

    /// The command `operator` at `seat` asks for with this request: every
    /// name in it is the sender's, a seat taken or left is the sender's,
    /// and nothing signed through it counts as decided in advance.
    pub fn command(self, operator: &str, seat: &Seat) -> Command {
        let who = operator.to_string();
        let signature = |role: String, note: String| Signature {
            who: who.clone(),
            role,
            note,
            preapproved: false,
            seat: None,
        };
        match self {
            Request::SignOff { step, role, note } => Command::SignOff {
                step,
                signature: signature(role, note),
            },
            Request::Note { text } => Command::Note { who, text },
            Request::Pause => Command::Pause { who },
            Request::Abort { reason } => Command::Abort { who, reason },
            Request::TakeDriverSeat => Command::TakeDriverSeat {
                who,
                seat: seat.clone(),
            },
            Request::Drive { command } => match command {
                Command::SignOff { step, signature: s } => Command::SignOff {
                    step,
                    signature: signature(s.role, s.note),
                },
                Command::MarkDone { step, signature: s } => Command::MarkDone {
                    step,
                    signature: signature(s.role, s.note),
                },
                Command::Override { step, signature: s } => Command::Override {
                    step,
                    signature: signature(s.role, s.note),
                },
                Command::Run { .. } => Command::Run { who },
                Command::Pause { .. } => Command::Pause { who },
                Command::Skip { step, reason, .. } => Command::Skip { step, who, reason },
                Command::Abort { reason, .. } => Command::Abort { who, reason },
                Command::Note { text, .. } => Command::Note { who, text },
                Command::ReleaseHold { .. } => Command::ReleaseHold {
                    who,
                    preapproved: false,
                },
                Command::Confirm { typed, .. } => Command::Confirm { who, typed },
                Command::StartRollback { reason, .. } => Command::StartRollback { who, reason },
                Command::Detach { .. } => Command::Detach { who },
                Command::DriverGone { reason, .. } => Command::DriverGone {
                    who,
                    reason,
                    seat: Some(seat.clone()),
                },
                Command::TakeDriverSeat { .. } => Command::TakeDriverSeat {
                    who,
                    seat: seat.clone(),
                },
                unnamed @ (Command::Retry { .. } | Command::Cancel) => unnamed,
            },
        }
    }

    /// A request as it was stored (`json`), or why it is not one.
    pub fn parse(json: &serde_json::Value) -> Result<Request, String> {
        serde_json::from_value(json.clone()).map_err(|e| {
            format!(
                "not a request runsheet knows ({e}); attached terminals send sign_off, note, pause, abort, take_driver_seat or drive"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(terminal: &str) -> Seat {
        Seat {
            os_user: Some("bea".into()),
            host: "far".into(),
            terminal: Some(terminal.into()),
        }
    }

    #[test]
    fn requests_travel_as_json_and_name_their_sender() {
        let sign = Request::SignOff {
            step: "p.1".into(),
            role: "QA".into(),
            note: String::new(),
        };
        let json = serde_json::to_value(&sign).unwrap();
        assert_eq!(json["type"], "sign_off");
        assert_eq!(Request::parse(&json), Ok(sign.clone()));
        let Command::SignOff { signature, .. } = sign.command("Bea", &seat("pts/1")) else {
            panic!("a sign-off stays one");
        };
        assert_eq!((signature.who.as_str(), signature.role.as_str()), ("Bea", "QA"));
        // A name in the request is no field of it: refused, not trusted.
        let forged = serde_json::json!({"type": "note", "text": "x", "who": "Ana"});
        assert!(Request::parse(&forged).is_err());
        assert!(Request::parse(&serde_json::json!({"type": "run"})).is_err());
        assert!(Request::parse(&serde_json::json!("pause")).is_err());
    }

    #[test]
    fn a_drivers_command_carries_the_senders_name_and_seat() {
        let take = Request::of(&Command::TakeDriverSeat {
            who: "Ana".into(),
            seat: Seat::default(),
        });
        assert_eq!(serde_json::to_value(&take).unwrap()["type"], "take_driver_seat");
        assert_eq!(
            take.command("Bea", &seat("pts/1")),
            Command::TakeDriverSeat {
                who: "Bea".into(),
                seat: seat("pts/1")
            }
        );
        let release = Request::of(&Command::ReleaseHold {
            who: "Ana".into(),
            preapproved: true,
        });
        let json = serde_json::to_value(&release).unwrap();
        assert_eq!(json["type"], "drive");
        assert_eq!(
            Request::parse(&json).unwrap().command("Bea", &seat("pts/1")),
            Command::ReleaseHold {
                who: "Bea".into(),
                preapproved: false
            }
        );
        let gone = Request::of(&Command::DriverGone {
            who: "Ana".into(),
            reason: "left".into(),
            seat: Some(seat("pts/9")),
        });
        assert_eq!(
            gone.command("Bea", &seat("pts/1")),
            Command::DriverGone {
                who: "Bea".into(),
                reason: "left".into(),
                seat: Some(seat("pts/1"))
            }
        );
    }
}

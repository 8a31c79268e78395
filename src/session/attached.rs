//! What an attached terminal may ask of a session it does not drive, as the
//! request travels (JSON in a `runsheet.commands` row, or any other
//! transport), and the one rule that turns it into a [`Command`] for
//! [`super::rules::decide`].
//!
//! Every attached terminal may sign the manual step that waits for sign-offs
//! and add notes; pausing and aborting need the runbook's front matter to
//! allow them (`attach = ["pause", "abort"]`). The names in the commands
//! are the sender's operator name, never one the request carries, so a
//! terminal signs and writes only as itself. Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::protocol::Command;
use crate::journal::event::Signature;
use crate::runbook::model::AttachRight;

/// A request from an attached terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Request {
    /// The request that carries `command` from an attached terminal, if an
    /// attached terminal may ask for it at all.
    pub fn of(command: &Command) -> Option<Request> {
        Some(match command {
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
            _ => return None,
        })
    }

    /// The front matter's right this request needs, if it needs one.
    pub fn needs(&self) -> Option<AttachRight> {
        match self {
            Request::SignOff { .. } | Request::Note { .. } => None,
            Request::Pause => Some(AttachRight::Pause),
            Request::Abort { .. } => Some(AttachRight::Abort),
        }
    }

    /// The command `operator` asks for with this request, or why an
    /// attached terminal may not ask for it in a session whose plan
    /// `allows` these rights (its `attach`).
    pub fn command(self, allows: &[AttachRight], operator: &str) -> Result<Command, String> {
        if let Some(right) = self.needs().filter(|r| !allows.contains(r)) {
            return Err(format!(
                "this runbook does not let attached terminals {0}: its front matter needs attach = [\"{0}\"]; ask the driver",
                right.word()
            ));
        }
        let who = operator.to_string();
        Ok(match self {
            Request::SignOff { step, role, note } => Command::SignOff {
                step,
                signature: Signature {
                    who,
                    role,
                    note,
                    preapproved: false,
                    seat: None,
                },
            },
            Request::Note { text } => Command::Note { who, text },
            Request::Pause => Command::Pause { who },
            Request::Abort { reason } => Command::Abort { who, reason },
        })
    }

    /// A request as it was stored (`json`), or why it is not one.
    pub fn parse(json: &serde_json::Value) -> Result<Request, String> {
        serde_json::from_value(json.clone()).map_err(|e| {
            format!(
                "not a request runsheet knows ({e}); attached terminals send sign_off, note, pause or abort"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Ok(Command::SignOff { signature, .. }) = sign.command(&[], "Bea") else {
            panic!("a sign-off needs no right");
        };
        assert_eq!((signature.who.as_str(), signature.role.as_str()), ("Bea", "QA"));
        // A name in the request is no field of it: refused, not trusted.
        let forged = serde_json::json!({"type": "note", "text": "x", "who": "Ana"});
        assert!(Request::parse(&forged).is_err());
        assert!(Request::parse(&serde_json::json!({"type": "run"})).is_err());
        assert!(Request::parse(&serde_json::json!("pause")).is_err());
    }

    #[test]
    fn pause_and_abort_need_the_front_matter() {
        let refused = Request::Pause.command(&[], "Bea").unwrap_err();
        assert!(refused.contains("attach = [\"pause\"]"), "{refused}");
        assert!(Request::Pause.command(&[AttachRight::Pause], "Bea").is_ok());
        let abort = Request::Abort { reason: "no".into() };
        assert!(abort.clone().command(&[AttachRight::Pause], "Bea").is_err());
        assert_eq!(
            abort.command(&[AttachRight::Abort], "Bea"),
            Ok(Command::Abort {
                who: "Bea".into(),
                reason: "no".into()
            })
        );
        assert_eq!(Request::of(&Command::Cancel), None);
    }
}

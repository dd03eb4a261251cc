//! Fault injection ("chaos"): SMTP refusals on demand, to test how a sender copes with
//! a server that says no.
//!
//! The settings are Mailpit's (`/api/v1/chaos`): three [`Trigger`]s, one each for MAIL
//! FROM, RCPT TO and AUTH, each an SMTP code and a probability in percent. A session
//! asks [`Chaos::roll`] at each of those commands and, when it comes up, answers the
//! trigger's code instead of doing the command.
//!
//! Chaos is off unless the server was started to allow it ([`Chaos::allowed`], the CLI's
//! `--enable-chaos`): a server that does not allow it cannot be made to refuse mail by
//! anyone who reaches its HTTP API.

use std::fmt;
use std::sync::{Arc, Mutex};

/// Where in the SMTP dialogue a fault is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `MAIL FROM`.
    Sender,
    /// `RCPT TO`.
    Recipient,
    /// `AUTH`.
    Authentication,
}

impl Stage {
    /// The word the refusal's text uses.
    fn noun(self) -> &'static str {
        match self {
            Stage::Sender => "sender",
            Stage::Recipient => "recipient",
            Stage::Authentication => "authentication",
        }
    }
}

/// One fault: the code to answer and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// The SMTP reply code, 400 to 599 (RFC 5321 §4.2: 4yz transient, 5yz permanent).
    pub error_code: u16,
    /// Chance of answering it, in percent (0 to 100; 0: never).
    pub probability: u8,
}

/// The three faults (Mailpit's `ChaosTriggers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggers {
    /// At `MAIL FROM`.
    pub sender: Trigger,
    /// At each `RCPT TO`.
    pub recipient: Trigger,
    /// At `AUTH`.
    pub authentication: Trigger,
}

/// The codes Mailpit answers when a trigger gives none: 451 (local error, try later) for
/// MAIL and RCPT, 535 (credentials invalid, RFC 4954 §6) for AUTH.
pub const DEFAULT_SENDER_CODE: u16 = 451;
/// See [`DEFAULT_SENDER_CODE`].
pub const DEFAULT_RECIPIENT_CODE: u16 = 451;
/// See [`DEFAULT_SENDER_CODE`].
pub const DEFAULT_AUTHENTICATION_CODE: u16 = 535;

impl Default for Triggers {
    /// Every trigger with its default code and probability 0: no faults.
    fn default() -> Self {
        Triggers {
            sender: Trigger {
                error_code: DEFAULT_SENDER_CODE,
                probability: 0,
            },
            recipient: Trigger {
                error_code: DEFAULT_RECIPIENT_CODE,
                probability: 0,
            },
            authentication: Trigger {
                error_code: DEFAULT_AUTHENTICATION_CODE,
                probability: 0,
            },
        }
    }
}

impl Triggers {
    /// The trigger of `stage`.
    pub fn get(&self, stage: Stage) -> Trigger {
        match stage {
            Stage::Sender => self.sender,
            Stage::Recipient => self.recipient,
            Stage::Authentication => self.authentication,
        }
    }

    /// Checks every trigger: codes 400–599, probabilities 0–100.
    pub fn validate(&self) -> Result<(), ChaosError> {
        for stage in [Stage::Sender, Stage::Recipient, Stage::Authentication] {
            let t = self.get(stage);
            if !(400..=599).contains(&t.error_code) {
                return Err(ChaosError::Code {
                    stage: stage.noun(),
                    code: t.error_code,
                });
            }
            if t.probability > 100 {
                return Err(ChaosError::Probability {
                    stage: stage.noun(),
                    probability: t.probability,
                });
            }
        }
        Ok(())
    }
}

/// Why chaos settings were not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChaosError {
    /// The server was not started with chaos allowed.
    #[error("chaos is not enabled on this server (start it with --enable-chaos)")]
    NotEnabled,
    /// A code outside 400–599: only refusals can be injected.
    #[error("{stage}: error code {code} is not an SMTP error; it must be 400 to 599")]
    Code {
        /// Which trigger.
        stage: &'static str,
        /// The code given.
        code: u16,
    },
    /// A probability over 100.
    #[error("{stage}: probability {probability} must be 0 to 100")]
    Probability {
        /// Which trigger.
        stage: &'static str,
        /// The probability given.
        probability: u8,
    },
}

/// The chaos settings one SMTP server and its HTTP API share: a cheap `Clone` handle.
///
/// A `std` mutex, never held across an `.await`: sessions read it once per MAIL, RCPT
/// or AUTH, and the API writes it rarely.
#[derive(Clone, Default)]
pub struct Chaos {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Whether settings may be changed at all (`--enable-chaos`); fixed at start.
    allowed: bool,
    triggers: Mutex<Triggers>,
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("allowed", &self.shared.allowed)
            .field("triggers", &self.triggers())
            .finish()
    }
}

impl Chaos {
    /// Chaos that can never be turned on: what a server has by default.
    pub fn disabled() -> Self {
        Chaos::default()
    }

    /// Chaos that [`Chaos::set`] may turn on; no faults until it does.
    pub fn allowed() -> Self {
        Chaos {
            shared: Arc::new(Shared {
                allowed: true,
                triggers: Mutex::new(Triggers::default()),
            }),
        }
    }

    /// Whether settings may be changed.
    pub fn is_allowed(&self) -> bool {
        self.shared.allowed
    }

    /// The current triggers.
    pub fn triggers(&self) -> Triggers {
        *self.lock()
    }

    /// Replaces the triggers, when chaos is allowed and every trigger is valid; otherwise
    /// nothing changes.
    pub fn set(&self, triggers: Triggers) -> Result<(), ChaosError> {
        if !self.shared.allowed {
            return Err(ChaosError::NotEnabled);
        }
        triggers.validate()?;
        *self.lock() = triggers;
        tracing::info!(?triggers, "chaos settings changed");
        Ok(())
    }

    /// Whether `stage` fails this time: its code, when the dice say so.
    pub fn roll(&self, stage: Stage) -> Option<u16> {
        if !self.shared.allowed {
            return None;
        }
        let trigger = self.lock().get(stage);
        // 0..100 is below the probability in `probability` cases out of 100: 0 never
        // fires, 100 always does.
        (fastrand::u8(0..100) < trigger.probability).then_some(trigger.error_code)
    }

    /// The reply text for a fault injected at `stage`.
    pub fn text(stage: Stage) -> String {
        format!(
            "{} refused: fault injected by chaos testing (yubin --enable-chaos)",
            stage.noun()
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Triggers> {
        // The triggers are plain values: a panic elsewhere cannot leave them half-set.
        self.shared
            .triggers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always(code: u16) -> Trigger {
        Trigger {
            error_code: code,
            probability: 100,
        }
    }

    #[test]
    fn disabled_chaos_refuses_settings_and_never_fires() {
        let chaos = Chaos::disabled();
        let triggers = Triggers {
            sender: always(451),
            ..Triggers::default()
        };
        assert_eq!(chaos.set(triggers), Err(ChaosError::NotEnabled));
        assert_eq!(chaos.triggers(), Triggers::default());
        assert_eq!(chaos.roll(Stage::Sender), None);
    }

    #[test]
    fn probability_100_always_fires_and_0_never() {
        let chaos = Chaos::allowed();
        chaos
            .set(Triggers {
                recipient: always(550),
                ..Triggers::default()
            })
            .unwrap();
        for _ in 0..200 {
            assert_eq!(chaos.roll(Stage::Recipient), Some(550));
            assert_eq!(chaos.roll(Stage::Sender), None);
            assert_eq!(chaos.roll(Stage::Authentication), None);
        }
    }

    #[test]
    fn invalid_settings_change_nothing() {
        let chaos = Chaos::allowed();
        let bad_code = Triggers {
            sender: always(250),
            ..Triggers::default()
        };
        assert!(matches!(
            chaos.set(bad_code),
            Err(ChaosError::Code { code: 250, .. })
        ));
        let bad_probability = Triggers {
            authentication: Trigger {
                error_code: 535,
                probability: 101,
            },
            ..Triggers::default()
        };
        assert!(matches!(
            chaos.set(bad_probability),
            Err(ChaosError::Probability {
                probability: 101,
                ..
            })
        ));
        assert_eq!(chaos.triggers(), Triggers::default());
    }
}

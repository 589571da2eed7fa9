//! The charm's actions, one file each (mini-redis's shape): an [`ActionCmd`] is built from
//! the action's name and its parameters (deserialised with serde), runs against what it
//! needs to see, and returns an [`ActionOutcome`]: the results or the failure message, and
//! a plan fragment of relation writes that the executor carries out. No action writes
//! relation data itself.

pub mod get_password;
pub mod pre_upgrade_check;
pub mod resume_upgrade;
pub mod set_password;
pub mod set_tls_private_key;

use std::collections::BTreeMap;

use crate::dispatch::Action;
use crate::passwords::RandomError;
use crate::plan::Plan;
use crate::snapshot::Snapshot;

/// One action invocation, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCmd {
    GetPassword(get_password::User),
    SetPassword(set_password::Params),
    PreUpgradeCheck,
    ResumeUpgrade,
    SetTlsPrivateKey(set_tls_private_key::Params),
}

/// The action's parameters were not what `actions.yaml` allows.
#[derive(Debug, thiserror::Error)]
#[error("invalid parameters for {action}")]
pub struct ParamsError {
    pub action: &'static str,
    #[source]
    pub source: serde_json::Error,
}

impl ActionCmd {
    /// Whether the action has parameters to read (`action-get`); the others save the call.
    pub fn takes_params(action: Action) -> bool {
        matches!(action, Action::SetPassword | Action::SetTlsPrivateKey)
    }

    /// Builds the command from the action and its parameters (`action-get`'s object; an
    /// empty one for actions without parameters).
    ///
    /// # Errors
    /// When the parameters do not deserialise (the action then fails with the reason).
    pub fn parse(
        action: Action,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Result<ActionCmd, ParamsError> {
        let err = |source| ParamsError {
            action: action.name(),
            source,
        };
        Ok(match action {
            Action::GetSuperPassword => ActionCmd::GetPassword(get_password::User::Super),
            Action::GetSyncPassword => ActionCmd::GetPassword(get_password::User::Sync),
            Action::SetPassword => ActionCmd::SetPassword(
                serde_json::from_value(serde_json::Value::Object(params)).map_err(err)?,
            ),
            Action::PreUpgradeCheck => ActionCmd::PreUpgradeCheck,
            Action::ResumeUpgrade => ActionCmd::ResumeUpgrade,
            Action::SetTlsPrivateKey => ActionCmd::SetTlsPrivateKey(
                serde_json::from_value(serde_json::Value::Object(params)).map_err(err)?,
            ),
        })
    }

    /// Runs the command against the snapshot.
    ///
    /// # Errors
    /// When a password must be generated and the operating system has no random bytes.
    pub fn run(&self, s: &Snapshot) -> Result<ActionOutcome, RandomError> {
        Ok(match self {
            ActionCmd::GetPassword(user) => get_password::run(
                *user,
                s.credentials
                    .as_ref()
                    .map(|c| c.as_ref().map_err(String::as_str)),
            ),
            ActionCmd::SetPassword(params) => set_password::run(params, s)?,
            ActionCmd::PreUpgradeCheck => pre_upgrade_check::run(s),
            ActionCmd::ResumeUpgrade => resume_upgrade::run(s),
            ActionCmd::SetTlsPrivateKey(params) => set_tls_private_key::run(params),
        })
    }
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ActionOutcome {
    /// The results (`action-set`), or the message the action fails with (`action-fail`).
    pub result: Result<BTreeMap<String, String>, String>,
    /// Relation writes to carry out before the results are set.
    pub plan: Plan,
    /// Run the reconcile loop afterwards (and set the status), so that the change starts
    /// now rather than in the next hook.
    pub then_reconcile: bool,
}

impl Default for ActionOutcome {
    fn default() -> Self {
        ActionOutcome {
            result: Ok(BTreeMap::new()),
            plan: Plan::default(),
            then_reconcile: false,
        }
    }
}

impl ActionOutcome {
    /// A refusal: the action fails with `message` and changes nothing.
    pub fn fail(message: impl Into<String>) -> ActionOutcome {
        ActionOutcome {
            result: Err(message.into()),
            ..ActionOutcome::default()
        }
    }

    /// Results, and nothing else.
    pub fn results<I, K, V>(results: I) -> ActionOutcome
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        ActionOutcome {
            result: Ok(results
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect()),
            ..ActionOutcome::default()
        }
    }
}

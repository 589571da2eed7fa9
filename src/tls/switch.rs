//! Switching a running ensemble between plaintext and TLS without losing the quorum
//! (reference §3.5), as pure functions over a small model of the peer data.
//!
//! The upstream procedure has three rolling restarts: `portUnification` on everywhere (each
//! quorum port then accepts TLS and plaintext), then `sslQuorum` on (servers connect with
//! TLS), then `portUnification` off. Turning TLS off runs the same steps with `sslQuorum`
//! going off. Two servers can talk when each accepts what the other sends
//! ([`QuorumTls::accepts`]); the steps keep every pair of running servers able to talk,
//! because the leader moves to the next step only once every started unit reports that it
//! restarted with the current step's config.
//!
//! The app-level state ([`AppTls`]) and the unit reports ([`UnitReport`]) are the Python
//! charm's peer keys (`tls`, `switching-encryption`, `quorum` in the app bag; `unified`,
//! `quorum` per unit) plus one key of ours per unit naming its installed certificate (a
//! fingerprint). Parsing those keys belongs to the peer-relation module; this module takes
//! them typed.
//!
//! Differences from the Python charm (its weaknesses are in §3.5):
//! - the quorum step (E1) waits until every started unit has restarted unified **and** has
//!   its certificate installed;
//! - a unit reports `quorum=ssl` only when it runs with `sslQuorum=true`, and the last
//!   step (E2) waits for every started unit to report it;
//! - no step is taken while a unit holds the restart lock: its report may not describe
//!   the server it runs yet (it is written in the hook that releases the lock);
//! - clients move to 2182 only once every unit finished its last restart, and back to
//!   2181 when the last step of a turn-off is written (every server then still serves both
//!   ports); each unit serves 2182 until its final restart and deletes its TLS files only
//!   after that.
//!
//! How the charm uses it:
//! - the leader calls [`leader_step`] with whether the `certificates` relation exists and
//!   writes the app bag when told to; it publishes [`client_tls`] to every client relation
//!   (port and `tls` together);
//! - every unit calls [`unit_plan`]: it renders `zoo.cfg` for the returned mode (see
//!   `files::zoo_cfg_tls`), restarts under the restart lock when that differs from what
//!   runs, deletes its TLS files when told to, and in the hook that releases the lock
//!   writes its report ([`UnitReport::after_restart`]).

use std::collections::BTreeMap;

pub use super::files::QuorumTls;

/// The `quorum` value of the app bag (what the ensemble is moving to or runs) and of a
/// unit bag (what that unit runs). Python writes `default - non-ssl` at install, then
/// `non-ssl` or `ssl`; the first two mean [`QuorumSetting::Plain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumSetting {
    Plain,
    Ssl,
}

impl QuorumSetting {
    /// The setting a server in `mode` runs with.
    pub fn of(mode: QuorumTls) -> QuorumSetting {
        if mode.ssl_quorum() {
            QuorumSetting::Ssl
        } else {
            QuorumSetting::Plain
        }
    }
}

/// The app-level TLS state the leader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppTls {
    /// `tls=enabled`: the ensemble is (moving to) TLS.
    pub enabled: bool,
    /// `switching-encryption=started`.
    pub switching: bool,
    /// `quorum`.
    pub quorum: QuorumSetting,
}

impl AppTls {
    /// A new application: plaintext, no switch.
    pub const PLAINTEXT: AppTls = AppTls {
        enabled: false,
        switching: false,
        quorum: QuorumSetting::Plain,
    };
    /// TLS on, switch finished.
    pub const TLS: AppTls = AppTls {
        enabled: true,
        switching: false,
        quorum: QuorumSetting::Ssl,
    };

    /// The quorum setting the current direction ends with.
    fn target(self) -> QuorumSetting {
        if self.enabled {
            QuorumSetting::Ssl
        } else {
            QuorumSetting::Plain
        }
    }

    /// TLS off and no switch running: the end of a turn-off.
    fn plaintext_settled(self) -> bool {
        !self.enabled && !self.switching && self.quorum == QuorumSetting::Plain
    }
}

/// What one unit reports in its peer bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitReport {
    /// Its server was started (it is or was a member). Units not started yet are not waited
    /// for: whenever they start, they start with the current step's config.
    pub started: bool,
    /// It holds the restart lock (granted, not released): the rest of the report may not
    /// describe the server it runs yet.
    pub restarting: bool,
    /// `unified=true`: it last restarted with `portUnification=true`.
    pub unified: bool,
    /// `quorum`: whether it last restarted with `sslQuorum=true`.
    pub quorum: QuorumSetting,
    /// It published the fingerprint of an installed certificate (its files are written).
    pub certificate: bool,
}

impl UnitReport {
    /// The report of a started unit whose server runs in `mode`.
    pub fn after_restart(mode: QuorumTls, certificate: bool) -> UnitReport {
        UnitReport {
            started: true,
            restarting: false,
            unified: mode.port_unification(),
            quorum: QuorumSetting::of(mode),
            certificate,
        }
    }

    /// The mode its server runs in, by the report.
    pub fn mode(&self) -> QuorumTls {
        QuorumTls::from_flags(self.unified, self.quorum == QuorumSetting::Ssl)
    }
}

/// What the leader should do about the app-level state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderStep {
    /// Write this app state (the next step).
    Write(AppTls),
    /// A switch runs and its next step waits.
    Wait(Waiting),
    /// No switch runs (units may still be restarting into the final config).
    Steady,
}

/// Why the next step of a switch waits, naming the units (for the leader's status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// These units hold the restart lock.
    Restarting(Vec<u32>),
    /// These units have not restarted with the current step's config yet.
    Restarts(Vec<u32>),
    /// These units have no certificate installed yet.
    Certificates(Vec<u32>),
}

/// The leader's next step. `wanted` is whether TLS is wanted (the `certificates` relation
/// exists); `units` holds every unit's report, the leader's own included.
///
/// - TLS wanted and not recorded, or the reverse: start a switch towards it (E0: keep
///   `quorum`, set `switching`; every unit then turns `portUnification` on). Starting (or
///   reversing) a switch is safe in any state: it only adds `portUnification`.
/// - E1 (`quorum` to the target) once every started unit runs unified and, towards TLS,
///   has its certificate installed.
/// - E2 (clear `switching`) once every started unit runs with the target `quorum`.
pub fn leader_step(wanted: bool, app: AppTls, units: &BTreeMap<u32, UnitReport>) -> LeaderStep {
    if app.enabled != wanted {
        return LeaderStep::Write(AppTls {
            enabled: wanted,
            switching: true,
            quorum: app.quorum,
        });
    }
    let target = app.target();
    if !app.switching {
        if app.quorum != target {
            // TLS recorded without the quorum following it (an interrupted or foreign
            // state): run the steps from here.
            return LeaderStep::Write(AppTls {
                switching: true,
                ..app
            });
        }
        return LeaderStep::Steady;
    }
    let started: Vec<(u32, &UnitReport)> = units
        .iter()
        .filter(|(_, u)| u.started)
        .map(|(id, u)| (*id, u))
        .collect();
    let ids = |pred: &dyn Fn(&UnitReport) -> bool| -> Vec<u32> {
        started
            .iter()
            .filter(|(_, u)| pred(u))
            .map(|(id, _)| *id)
            .collect()
    };
    let restarting = ids(&|u| u.restarting);
    if !restarting.is_empty() {
        return LeaderStep::Wait(Waiting::Restarting(restarting));
    }
    if app.quorum != target {
        let behind = ids(&|u| !u.unified);
        if !behind.is_empty() {
            return LeaderStep::Wait(Waiting::Restarts(behind));
        }
        if wanted {
            let missing = ids(&|u| !u.certificate);
            if !missing.is_empty() {
                return LeaderStep::Wait(Waiting::Certificates(missing));
            }
        }
        return LeaderStep::Write(AppTls {
            quorum: target,
            ..app
        });
    }
    let behind = ids(&|u| u.quorum != target);
    if !behind.is_empty() {
        let missing = ids(&|u| u.quorum != target && !u.certificate);
        if wanted && !missing.is_empty() {
            return LeaderStep::Wait(Waiting::Certificates(missing));
        }
        return LeaderStep::Wait(Waiting::Restarts(behind));
    }
    LeaderStep::Write(AppTls {
        switching: false,
        ..app
    })
}

/// What a unit's server runs with (the unit's own record of its last start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Running {
    pub quorum: QuorumTls,
    /// It serves TLS clients on 2182.
    pub client_tls: bool,
}

/// What a unit should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitPlan {
    /// The quorum mode to render and (re)start with; `None`: do not start or restart yet:
    /// `quorum=ssl`, so some server may run TLS only, and this unit has no certificate.
    pub quorum: Option<QuorumTls>,
    /// Render the client TLS keys (2182). Only ever true with the files present.
    pub client_tls: bool,
    /// Delete `keystore.pem` and `truststore.pem` now (a turn-off has finished and the
    /// server no longer uses them). The key itself stays in the charm's own storage.
    pub remove_files: bool,
}

impl UnitPlan {
    /// Whether the server must restart to follow this plan.
    pub fn needs_restart(&self, running: Option<Running>) -> bool {
        match (self.quorum, running) {
            (Some(q), Some(r)) => r.quorum != q || r.client_tls != self.client_tls,
            _ => false,
        }
    }
}

/// A unit's plan. `files_present`: its key and trust stores are written; `running`: what its
/// server was last started with (`None` if never started).
///
/// Quorum mode by app state: `Plaintext` with no switch, `Unified` while switching; with
/// `quorum=ssl`, `SslOnly` and `UnifiedSsl` instead, and no (re)start at all without a
/// certificate (a unit joining then waits for it). Client TLS whenever the files are
/// present, except once a turn-off has finished: then the unit restarts without 2182 and,
/// once it runs without TLS at all, deletes the files.
pub fn unit_plan(app: AppTls, files_present: bool, running: Option<Running>) -> UnitPlan {
    let settled_off = app.plaintext_settled();
    let uses_files = running.is_some_and(|r| r.client_tls || r.quorum.ssl_quorum());
    let remove_files = files_present && settled_off && !uses_files;
    let has_cert = files_present && !remove_files;
    let quorum = match (app.switching, app.quorum) {
        // Some server may run TLS only: without a certificate, (re)starting could only
        // make a server those cannot reach. Wait for the certificate.
        (_, QuorumSetting::Ssl) if !has_cert => None,
        (false, QuorumSetting::Plain) => Some(QuorumTls::Plaintext),
        (false, QuorumSetting::Ssl) => Some(QuorumTls::SslOnly),
        (true, QuorumSetting::Plain) => Some(QuorumTls::Unified),
        (true, QuorumSetting::Ssl) => Some(QuorumTls::UnifiedSsl),
    };
    UnitPlan {
        quorum,
        client_tls: has_cert && !settled_off,
        remove_files,
    }
}

/// What clients are told: every endpoint on 2181 with `tls=disabled`, or on 2182 with
/// `tls=enabled` (always both together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientTls {
    Disabled,
    Enabled,
}

impl ClientTls {
    /// The plaintext client port.
    pub const PLAIN_PORT: u16 = 2181;

    /// The port every published endpoint names: 2181, or 2182 under TLS.
    pub fn port(self) -> u16 {
        match self {
            ClientTls::Disabled => ClientTls::PLAIN_PORT,
            ClientTls::Enabled => super::files::SECURE_CLIENT_PORT,
        }
    }

    /// The `tls` field clients read (`enabled` or `disabled`), published with [`Self::port`]
    /// in the same write.
    pub fn field(self) -> &'static str {
        match self {
            ClientTls::Disabled => "disabled",
            ClientTls::Enabled => "enabled",
        }
    }

    /// What a published `tls` field says (`enabled`; anything else is disabled).
    pub fn from_field(value: &str) -> ClientTls {
        if value == "enabled" {
            ClientTls::Enabled
        } else {
            ClientTls::Disabled
        }
    }
}

/// What to publish to a client relation that currently has `published` (`None` for a new
/// relation). It changes only at the ends of a switch:
/// - to `Enabled` once TLS is settled and every started unit runs its final TLS config
///   (after its E2 restart);
/// - to `Disabled` once a turn-off's last step is written: every server then runs without
///   `sslQuorum`, and each still serves 2182 until its final restart, so clients move to
///   2181 before 2182 goes away.
///
/// In between, clients keep what they have; a new relation gets `Disabled` (2181 is in
/// every server's config throughout), or `Enabled` once TLS is settled.
pub fn client_tls(
    app: AppTls,
    units: &BTreeMap<u32, UnitReport>,
    published: Option<ClientTls>,
) -> ClientTls {
    let mut started = units.values().filter(|u| u.started);
    let tls_settled = app == AppTls::TLS
        && started
            .clone()
            .all(|u| !u.restarting && u.mode() == QuorumTls::SslOnly && u.certificate);
    if tls_settled {
        return ClientTls::Enabled;
    }
    if app.plaintext_settled() && started.all(|u| u.quorum == QuorumSetting::Plain) {
        return ClientTls::Disabled;
    }
    published.unwrap_or(ClientTls::Disabled)
}

#[cfg(test)]
mod tests;

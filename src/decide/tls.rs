//! TLS through the `certificates` relation (reference §3): each unit's key, CSR and
//! installed certificate, what its server renders and its reports to the leader; the
//! leader's steps of the switch between plaintext and TLS; and what clients are told. The
//! rules of the switch are `crate::tls::switch`'s; this module feeds them the snapshot and
//! turns their answers into the plan.
//!
//! Every unit, each round:
//! - while the relation exists: a key (generated once, kept in the charm's private state;
//!   `set-tls-private-key` replaces it), and in its own `certificates` bag one CSR for its
//!   address and that key, replaced when the names or the key change, when the provider
//!   revokes the certificate, or when the installed certificate is due for renewal;
//! - once the leader wrote `tls=enabled`: the provider's certificate for that CSR, checked
//!   against the key and the chain, installed in ZooKeeper's PEM stores when it is not the
//!   installed one (a renewal then restarts the unit once, under the restart lock);
//! - what its server runs with ([`crate::tls::unit_plan`]), except that a unit whose
//!   certificate is not installed yet keeps what runs (no restart into a step it cannot
//!   complete: every unit restarts exactly once per step) and does not start at all;
//! - its report in the `cluster` bag (`quorum`, `unified`, `tls-cert`), from what its
//!   server was started with (its client ports follow it: `super::ports`).

use std::collections::BTreeMap;

use crate::peers::cluster;
use crate::peers::restart::LockRequest;
use crate::plan::Plan;
use crate::render::TlsConfig;
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::tls::{
    leader_step, unit_plan, Answer, AppTls, ClientTls, CsrSubject, LeaderStep, QuorumSetting,
    Running, UnitReport, Waiting,
};
use crate::workload::Paths;

/// What a unit renders, and whether it may (re)start its server with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnitTls {
    pub config: TlsConfig,
    /// `false`: a server that is not running must not be started (it waits for its
    /// certificate); a running one keeps what it runs.
    pub may_start: bool,
}

/// What unit `s.unit_id`'s server was last started with: `None` if it never started; the
/// record of its last start, or plaintext for a server started before TLS existed here.
pub(super) fn last_started(s: &Snapshot) -> Option<Running> {
    s.local.started_with.as_ref()?;
    Some(s.local.started_tls.unwrap_or(TlsConfig::PLAINTEXT_MODE))
}

/// The names this unit asks a certificate for: its address as the common name and as an IP
/// SAN (the host in the quorum's server strings), and its address on each `zookeeper`
/// relation's binding (the hosts of that relation's endpoints) as IP SANs too.
fn csr_subject(s: &Snapshot) -> Option<CsrSubject> {
    let address = s.address?;
    let mut ips = std::collections::BTreeSet::from([address]);
    ips.extend(s.clients.addresses.values().copied());
    CsrSubject::new(&address.to_string(), ips, []).ok()
}

/// The unit side: key, CSR, certificate, files and reports. Returns what to render.
pub(super) fn unit_side(
    s: &Snapshot,
    paths: &Paths,
    app: &cluster::App,
    plan: &mut Plan,
) -> UnitTls {
    let app_tls = app.tls_state();
    let relation = s.tls.relation.as_ref();
    let provider = relation
        .and_then(|r| r.provider.clone())
        .unwrap_or_else(|| "the certificates provider".to_string());
    let installed = s.tls.installed.as_ref();

    if let Some(rel) = relation {
        match s.tls.key() {
            None => {
                if let Some(Err(why)) = &s.tls.key {
                    log::warn!("the stored TLS key cannot be used ({why}); a new one replaces it");
                }
                plan.tls.generate_key = true;
            }
            Some(key) => {
                let current = rel.requests.for_key(key);
                let answer = current.map(|c| rel.issued.answer_for(c));
                let renewal_due = match (&answer, installed) {
                    (Some(Answer::Issued(issued)), Some(leaf)) if issued.leaf == *leaf => {
                        issued.bundle(key).is_ok_and(|b| b.renewal_due(now(s)))
                    }
                    _ => false,
                };
                let subject = csr_subject(s);
                let stale = match (current, &subject) {
                    (Some(csr), Some(subject)) => !csr.requests(subject, key),
                    (None, _) => true,
                    (Some(_), None) => false,
                };
                if stale || renewal_due || matches!(answer, Some(Answer::Revoked)) {
                    if renewal_due {
                        log::info!(
                            "the certificate is due for renewal: asking {provider} for a new one"
                        );
                    }
                    if matches!(answer, Some(Answer::Revoked)) {
                        log::warn!(
                            "{provider} revoked this unit's certificate: asking for a new one"
                        );
                    }
                    match subject {
                        Some(subject) => plan.tls.publish_csr = Some(subject),
                        None => plan.statuses.push(Status::waiting(
                            "waiting for this unit's address to request a TLS certificate",
                        )),
                    }
                } else if app_tls.enabled {
                    match answer {
                        Some(Answer::Issued(issued)) => match issued.bundle(key) {
                            Ok(bundle) => {
                                if installed.map(|l| l.fingerprint()) != Some(bundle.fingerprint()) {
                                    plan.tls.install = Some(Box::new(bundle));
                                }
                            }
                            Err(e) => plan.statuses.push(Status::blocked(format!(
                                "cannot use the certificate from {provider}: {e}; fix the provider's certificate"
                            ))),
                        },
                        Some(Answer::Unusable(why)) => plan
                            .statuses
                            .push(Status::blocked(format!("{why}; fix the certificates provider"))),
                        Some(Answer::NotYet) | None if installed.is_none() => {
                            plan.statuses.push(Status::waiting(format!(
                                "waiting for {provider} to sign this unit's certificate request"
                            )))
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    let files = installed.is_some();
    let running = last_started(s);
    let step = unit_plan(app_tls, files, running);
    if unit_plan(app_tls, s.tls.any_file, running).remove_files {
        plan.tls.remove_files = true;
    }
    // A unit whose certificate is not installed yet keeps what it runs: its restart into
    // this step would have to be repeated once the certificate comes. (Also before it has
    // seen the relation itself: the leader may have written `tls=enabled` first.)
    let waits_for_certificate = app_tls.enabled && !files;
    let address = s.address.map(|a| a.to_string());
    let certificate = installed.map(|l| l.fingerprint());
    let planned = step.quorum.map(|quorum| Running {
        quorum,
        client_tls: step.client_tls,
    });
    let (mode, may_start) = match (planned, running) {
        (Some(mode), _) if !waits_for_certificate => (mode, true),
        (planned, Some(now)) => (now, planned.is_some()),
        (_, None) => (TlsConfig::PLAINTEXT_MODE, false),
    };
    let config = TlsConfig::new(
        mode,
        &paths.conf_dir,
        address.as_deref(),
        certificate.as_ref(),
    );
    let unit = match config {
        Some(config) => UnitTls { config, may_start },
        // What runs needs the PEM stores and they are gone: start nothing until the
        // certificate is installed again.
        None => UnitTls {
            config: TlsConfig::new(running.unwrap_or(mode), &paths.conf_dir, None, None)
                .unwrap_or_else(TlsConfig::plaintext),
            may_start: false,
        },
    };
    if !unit.may_start && !s.workload.running && app_tls.enabled {
        plan.statuses.push(Status::waiting(format!(
            "waiting for this unit's TLS certificate from {provider} before starting ZooKeeper"
        )));
    }

    report(s, installed.map(|l| l.fingerprint()), plan);
    unit
}

/// The current time, for renewals.
fn now(s: &Snapshot) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.event.now_secs)
}

/// This unit's report to the leader: what its running server was started with, and the
/// certificate it installed.
fn report(s: &Snapshot, certificate: Option<crate::tls::Fingerprint>, plan: &mut Plan) {
    let own = s
        .cluster
        .as_ref()
        .and_then(|c| c.unit(s.unit_id))
        .cloned()
        .unwrap_or_default();
    if own.tls_cert != certificate {
        plan.cluster_unit.tls_cert = Some(certificate);
    }
    if !(s.started(s.unit_id) && s.workload.running) {
        return;
    }
    let Some(running) = last_started(s) else {
        return;
    };
    let quorum = QuorumSetting::of(running.quorum);
    if own.quorum_setting() != quorum {
        plan.cluster_unit.quorum = Some(quorum);
    }
    if own.unified != running.quorum.port_unification() {
        plan.cluster_unit.unified = Some(running.quorum.port_unification());
    }
}

/// Every unit's report, as the leader reads the `cluster` and `restart` bags.
fn reports(s: &Snapshot) -> BTreeMap<u32, UnitReport> {
    let (Some(cluster), restart) = (&s.cluster, &s.restart) else {
        return BTreeMap::new();
    };
    s.members()
        .into_iter()
        .map(|id| {
            let unit = cluster.unit(id).cloned().unwrap_or_default();
            let restarting = restart.as_ref().is_some_and(|r| {
                r.app.granted(id)
                    && r.unit(id).and_then(|u| u.request) != Some(LockRequest::Release)
            });
            let report = UnitReport {
                started: unit.started,
                restarting,
                unified: unit.unified,
                quorum: unit.quorum_setting(),
                certificate: unit.tls_cert.is_some(),
            };
            (id, report)
        })
        .collect()
}

/// The leader side: the next step of the switch (the app bag's `tls`,
/// `switching-encryption` and `quorum`), once nothing else is in transition.
pub(super) fn leader_side(s: &Snapshot, plan: &mut Plan) {
    let Some(cluster) = &s.cluster else {
        return;
    };
    let app = cluster.app.tls_state();
    let wanted = s.tls.relation.is_some();
    let moving = app.switching || app.enabled != wanted;
    // A unit joining starts with the current step: the next one waits until it is started
    // (and reports), or it could start with a mode the others no longer accept.
    if s.upgrade_in_progress() || s.starting().is_some() {
        if moving {
            plan.statuses.push(Status::waiting(
                "the TLS switch waits until no unit is joining or upgrading",
            ));
        }
        return;
    }
    let units = reports(s);
    let towards = if wanted { "TLS" } else { "plaintext" };
    match leader_step(wanted, app, &units) {
        LeaderStep::Write(next) => {
            log::info!(
                "TLS switch towards {towards}: tls={}, switching-encryption={}, quorum={:?}",
                next.enabled,
                next.switching,
                next.quorum
            );
            plan.cluster_app.tls = Some(next);
        }
        LeaderStep::Wait(Waiting::Restarting(_)) | LeaderStep::Steady => {}
        LeaderStep::Wait(Waiting::Restarts(ids)) => {
            // Units waiting for their certificate say so in their own status; name them
            // for what they wait for here too.
            let (no_cert, restarts): (Vec<u32>, Vec<u32>) = ids
                .into_iter()
                .partition(|id| wanted && units.get(id).is_some_and(|u| !u.certificate));
            if !no_cert.is_empty() {
                plan.statuses.push(Status::waiting(format!(
                    "switching to TLS: waiting for the certificates of units {}",
                    list(&no_cert)
                )));
            }
            if !restarts.is_empty() {
                plan.statuses.push(Status::waiting(format!(
                    "switching to {towards}: waiting for units {} to restart",
                    list(&restarts)
                )));
            }
        }
        LeaderStep::Wait(Waiting::Certificates(ids)) => {
            plan.statuses.push(Status::waiting(format!(
                "switching to TLS: waiting for the certificates of units {}",
                list(&ids)
            )))
        }
    }
}

fn list(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the `zookeeper` relation must publish now (its endpoints' port and its `tls`
/// field, always together in one write), given what it published (`None`: nothing yet):
/// [`ClientTls::Enabled`] (port 2182, `tls=enabled`) once every unit finished the switch to
/// TLS; [`ClientTls::Disabled`] (2181, `tls=disabled`) once a turn-off's last step is
/// written (every server still serves 2182 until its last restart); in between, what was
/// published. The leader's call: it reads every unit's report.
pub fn client_tls(s: &Snapshot, published: Option<ClientTls>) -> ClientTls {
    let app = s
        .cluster
        .as_ref()
        .map_or(AppTls::PLAINTEXT, |c| c.app.tls_state());
    crate::tls::client_tls(app, &reports(s), published)
}

/// The CA clients must trust under TLS, as the `zookeeper` relation's `tls-ca`: what the
/// provider sent with this unit's certificate besides the certificate itself (the CA first,
/// then the rest of the chain), as PEM. `None` while this unit has no usable certificate
/// from the provider (the caller keeps what it published).
pub fn client_ca(s: &Snapshot) -> Option<String> {
    let rel = s.tls.relation.as_ref()?;
    let key = s.tls.key()?;
    let csr = rel.requests.for_key(key)?;
    let Answer::Issued(issued) = rel.issued.answer_for(csr) else {
        return None;
    };
    let bundle = issued.bundle(key).ok()?;
    let pems: Vec<&str> = bundle.rest().iter().map(|c| c.pem()).collect();
    (!pems.is_empty()).then(|| pems.join("\n") + "\n")
}

#[cfg(test)]
mod tests;

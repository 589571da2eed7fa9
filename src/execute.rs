//! Carries out a [`Plan`]: relation writes, workload operations, membership changes.
//!
//! Guarantees: relation writes go through the hook tools (so Juju commits them only if the
//! hook succeeds), and only the values that change are written; files are written before
//! the server (re)starts; the fingerprint of what a server was started with is recorded
//! right after it starts; what to do when an upgrade fails comes from the plan; after a
//! failed reconfig the next round re-reads the live config (a reconfig can succeed behind a
//! ConnectionLoss).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::hooktools::{Databag, HookTools, SecretOwner, SecretRead, SecretRef, ToolError};
use crate::local_state;
use crate::machine::Size;
use crate::passwords::Credentials;
use crate::peers::cluster;
use crate::plan::{Plan, SecretWrite, TlsOps, UpgradeFailed, WorkloadOp};
use crate::render::{dynamic_config, dynamic_config_file, Rendered};
use crate::report::chain;
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::tls::files::{KEYSTORE_FILE, TRUSTSTORE_FILE};
use crate::tls::{keystore_pem, truststore_pem, Csr, PrivateKey};
use crate::workload::{Workload, WorkloadError};
use crate::zk::ensemble::{Ensemble, MembershipOp};
use crate::zk::ServerSpec;

/// How long a started server may take to serve and sync before the hook moves on.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(40);
/// How often a start checks that the server still runs while it waits for it to sync: a
/// server that exits at start is noticed within about this long.
pub const EXIT_CHECK: Duration = Duration::from_millis(250);

/// A fault that fails the hook.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Random(#[from] crate::passwords::RandomError),
    /// No TLS key could be generated, encoded or signed with (no random bytes).
    #[error("cannot make this unit's TLS key or certificate request")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a workload operation failed.
#[derive(Debug, thiserror::Error)]
enum OpError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// A plan with a start but no files (a bug in the charm).
    #[error("nothing was rendered to start with")]
    NothingRendered,
    /// The server was started and exited before it served: the cause from its log.
    #[error("ZooKeeper exits at start: {0}")]
    ExitedAtStart(String),
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundEnd {
    /// Everything in the plan was done.
    Done,
    /// Something recoverable went wrong; stop this hook's rounds and report this status.
    Stop(Status),
}

/// Executes `plan`, decided from `s`.
///
/// # Errors
/// Only when a hook tool fails (or no password can be generated): workload and ZooKeeper
/// trouble becomes [`RoundEnd::Stop`].
pub fn execute(
    s: &Snapshot,
    plan: &Plan,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<RoundEnd, ExecError> {
    if let (Some(op), Some(c)) = (&plan.secret, &s.cluster) {
        secret_write(s, op, &c.id, tools)?;
    }
    for (id, writes) in [
        (s.cluster.as_ref().map(|r| &r.id), plan.cluster_writes(s)),
        (s.restart.as_ref().map(|r| &r.id), plan.restart_writes(s)),
        (s.upgrade.as_ref().map(|r| &r.id), plan.upgrade_writes(s)),
        (
            s.cos_agent.as_ref().map(|r| &r.id),
            plan.cos_agent_writes(s),
        ),
    ] {
        if let Some(id) = id {
            write(tools, id, false, &writes.unit)?;
            write(tools, id, true, &writes.app)?;
        }
    }
    if !plan.tls.is_empty() {
        if let Some(status) = tls(s, &plan.tls, tools, workload)? {
            return Ok(RoundEnd::Stop(status));
        }
    }
    if let Some(ports) = &plan.ports {
        set_ports(ports, tools, workload)?;
    }
    if let Some(cause) = &plan.upgrade_failure {
        log::error!("upgrade failed: {cause}");
        if let Err(e) = local_state::record_upgrade_failure(workload, cause) {
            return Ok(RoundEnd::Stop(Status::blocked(format!(
                "cannot record the upgrade failure: {}",
                chain(&e)
            ))));
        }
    }

    let files = plan.rendered.as_ref().zip(plan.fingerprint.as_deref());
    for op in &plan.workload {
        let Err(e) = workload_op(s, files, op, workload, ensemble) else {
            continue;
        };
        if let WorkloadOp::Upgrade { if_it_fails } = op {
            return upgrade_failed(s, if_it_fails, &e, tools, workload);
        }
        let message = match &e {
            OpError::ExitedAtStart(_) => format!(
                "{e}; fix it, then the next hook starts it again (see {})",
                workload.paths().server_log().display()
            ),
            _ if matches!(op, WorkloadOp::Purge { .. }) => format!(
                "the data disk is filling up and the old snapshots and logs cannot be purged: {}",
                chain(&e)
            ),
            _ => format!("cannot {} ZooKeeper: {}", op.verb(), chain(&e)),
        };
        log::error!("{message}");
        return Ok(RoundEnd::Stop(Status::blocked(message)));
    }

    if !plan.membership.is_empty() {
        if let Some(status) = membership(s, &plan.membership, ensemble) {
            return Ok(RoundEnd::Stop(status));
        }
    }
    if plan.protect_root {
        if let Some(status) = protect_root(s, tools, ensemble)? {
            return Ok(RoundEnd::Stop(status));
        }
    }
    if let Some(status) = clients(s, plan, tools, ensemble)? {
        return Ok(RoundEnd::Stop(status));
    }
    Ok(RoundEnd::Done)
}

/// The TLS work of a round: the key, the CSR, the PEM stores. Returns a status to
/// stop on when the workload's files cannot be written.
fn tls(
    s: &Snapshot,
    ops: &TlsOps,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<Option<Status>, ExecError> {
    let stop = |what: &str, e: &WorkloadError| {
        let message = format!("cannot {what}: {}", chain(e));
        log::error!("{message}");
        Some(Status::blocked(message))
    };
    let new_key = match (&ops.store_key, ops.generate_key) {
        (Some(key), _) => Some(key.clone()),
        (None, true) => Some(PrivateKey::generate().map_err(|e| ExecError::Tls(e.into()))?),
        (None, false) => None,
    };
    if let Some(key) = &new_key {
        if let Err(e) = local_state::store_tls_key(workload, key) {
            return Ok(stop("store this unit's TLS key", &e));
        }
        log::info!("stored a new TLS key for this unit");
    }
    let key = s.tls.key();
    if let (Some(subject), Some(key), Some(rel)) = (&ops.publish_csr, key, &s.tls.relation) {
        let csr = Csr::generate(key, subject).map_err(|e| ExecError::Tls(e.into()))?;
        let bag = Databag::from([(
            crate::tls::relation::REQUESTS_KEY.to_string(),
            crate::tls::relation::requests_value(&csr),
        )]);
        tools.relation_set(&rel.id, false, &bag)?;
        log::info!(
            "asked {} for a certificate for {}",
            rel.provider
                .as_deref()
                .unwrap_or("the certificates provider"),
            subject.common_name()
        );
    }
    let conf = &workload.paths().conf_dir;
    if let (Some(bundle), Some(key)) = (&ops.install, key) {
        let keystore = keystore_pem(key, bundle).map_err(|e| ExecError::Tls(e.into()))?;
        let truststore = truststore_pem(bundle);
        for subject in &truststore.shadowed {
            log::warn!(
                "the trust store keeps one certificate per subject: a second {subject} from the provider is left out"
            );
        }
        // The trust store first: the key store's new certificate must verify against it.
        let written = workload
            .write_file(&conf.join(TRUSTSTORE_FILE), &truststore.pem, 0o600)
            .and_then(|()| {
                workload.write_file(&conf.join(KEYSTORE_FILE), keystore.as_bytes(), 0o600)
            });
        if let Err(e) = written {
            return Ok(stop("install the TLS certificate", &e));
        }
        log::info!(
            "installed certificate {} (serial {}, subject {}, issuer {})",
            bundle.fingerprint(),
            bundle.leaf().serial(),
            bundle.leaf().subject(),
            bundle.leaf().issuer()
        );
    }
    if ops.remove_files {
        for name in [KEYSTORE_FILE, TRUSTSTORE_FILE] {
            if let Err(e) = workload.remove_file(&conf.join(name)) {
                return Ok(stop("delete the TLS stores", &e));
            }
        }
        log::info!("TLS is off: deleted the key and trust stores ZooKeeper read");
    }
    Ok(None)
}

/// The client relations' ZooKeeper and secret work, last (see
/// [`crate::client::execute`]).
fn clients(
    s: &Snapshot,
    plan: &Plan,
    tools: &dyn HookTools,
    ensemble: &dyn Ensemble,
) -> Result<Option<Status>, ExecError> {
    let Some(c) = &s.cluster else {
        return Ok(None);
    };
    if !plan.client.has_work() && plan.client.after.is_empty() {
        return Ok(None);
    }
    let hosts = serving_hosts(s);
    let target = crate::client::execute::Target {
        view: &s.clients,
        cluster_id: &c.id,
        cluster_app: &c.raw_app,
        super_password: s
            .credentials()
            .and_then(|c| c.super_password.as_ref())
            .map(|p| p.as_str()),
        hosts: &hosts,
    };
    Ok(crate::client::execute::execute(
        &plan.client,
        &target,
        tools,
        ensemble,
    )?)
}

/// Opens the TCP ports in `want` and closes the unit's other TCP ports (only this charm
/// opens ports for its unit), then remembers them. Juju commits both at the hook's end.
fn set_ports(
    want: &BTreeSet<u16>,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<(), ExecError> {
    let have: BTreeSet<u16> = tools
        .opened_ports()?
        .iter()
        .filter_map(|p| p.strip_suffix("/tcp")?.parse().ok())
        .collect();
    for port in want.difference(&have) {
        tools.open_port(*port, "tcp")?;
        log::info!("opened port {port}/tcp");
    }
    for port in have.difference(want) {
        tools.close_port(*port, "tcp")?;
        log::info!("closed port {port}/tcp");
    }
    local_state::record_opened_ports(workload, want);
    Ok(())
}

/// The label of the internal secret: Charmed ZooKeeper's, `cluster.<app>.app`.
pub fn internal_secret_label(app: &str) -> String {
    format!("{}.{app}.app", cluster::ENDPOINT)
}

/// Creates (or takes over, by its label) or updates the internal secret. A new secret's URI
/// goes in the app bag; the content is the whole content (`secret-set` replaces it), and is
/// not written when it did not change.
fn secret_write(
    s: &Snapshot,
    op: &SecretWrite,
    relation_id: &str,
    tools: &dyn HookTools,
) -> Result<(), ExecError> {
    match op {
        SecretWrite::Update { id, content } => {
            if s.credentials() != Some(content) {
                tools.secret_set(id, &content.to_content(), None)?;
            }
        }
        SecretWrite::Clients {
            id,
            content,
            generate,
        } => {
            let mut content = content.clone();
            for n in generate {
                if !content.clients.contains_key(n) {
                    content
                        .clients
                        .insert(*n, crate::passwords::Password::generate()?);
                }
            }
            if s.credentials() != Some(&content) {
                tools.secret_set(id, &content.to_content(), None)?;
            }
        }
        SecretWrite::Create { content } => {
            let label = internal_secret_label(&s.app_name);
            let existing = match tools.secret_info_get(&SecretRef::Label(label.clone())) {
                Ok(info) => crate::hooktools::SecretId::parse(&info.id),
                Err(e) if e.is_secret_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            let id = match existing {
                // A secret with the label and no URI in the bag (written by hand, or by a
                // charm that did not record it): keep its passwords.
                Some(id) => {
                    let found =
                        tools.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked)?;
                    match Credentials::from_content(&found) {
                        Ok(theirs) => {
                            let merged = theirs.clone().or(content).completed()?;
                            if merged != theirs {
                                tools.secret_set(&id, &merged.to_content(), None)?;
                            }
                        }
                        // Never replaced: the units say what is wrong and stop there.
                        Err(e) => log::warn!("the secret {id} ({label}) is kept as it is: {e}"),
                    }
                    id
                }
                None => {
                    let content = content.clone().completed()?;
                    tools.secret_add(
                        &content.to_content(),
                        Some(&label),
                        Some("ZooKeeper's internal users (super, sync)"),
                        SecretOwner::Application,
                    )?
                }
            };
            log::info!("the internal passwords are in the Juju secret {id} ({label})");
            let patch = cluster::AppPatch {
                internal_secret: Some(id),
                ..cluster::AppPatch::default()
            };
            write(tools, relation_id, true, &patch.to_bag())?;
        }
    }
    Ok(())
}

/// Restricts the ACLs of `/`, `/zookeeper` and `/zookeeper/quota` as `super`, then records
/// it. Returns a status to stop on when ZooKeeper refused or could not be reached (the next
/// hook tries again).
fn protect_root(
    s: &Snapshot,
    tools: &dyn HookTools,
    ensemble: &dyn Ensemble,
) -> Result<Option<Status>, ExecError> {
    let Some(super_password) = s.credentials().and_then(|c| c.super_password.clone()) else {
        return Ok(None);
    };
    let result = ensemble
        .reconfig_session(&serving_hosts(s), super_password.as_str())
        .and_then(|mut session| session.protect_root());
    match result {
        Ok(()) => {
            log::info!(
                "the ACLs of /, /zookeeper and /zookeeper/quota now let only super change them"
            );
            if let Some(c) = &s.cluster {
                let patch = cluster::AppPatch {
                    root_acl_restricted: Some(true),
                    ..cluster::AppPatch::default()
                };
                write(tools, &c.id, true, &patch.to_bag())?;
            }
            Ok(None)
        }
        Err(e) => {
            log::warn!("cannot restrict the root ACLs: {}", chain(&e));
            Ok(Some(Status::waiting(format!(
                "cannot restrict the ACLs of /, /zookeeper and /zookeeper/quota yet: {}; will retry",
                chain(&e)
            ))))
        }
    }
}

/// The addresses of the servers that serve, sorted.
fn serving_hosts(s: &Snapshot) -> Vec<String> {
    let mut hosts: Vec<String> = s
        .ensemble
        .health
        .iter()
        .filter(|(_, h)| h.serving)
        .filter_map(|(id, _)| s.unit_address(*id))
        .map(|a| a.to_string())
        .collect();
    hosts.sort();
    hosts
}

/// This unit's upgrade failed: keep serving with what is installed, tell the other units
/// (the plan's write), record why, and stop the rollout here.
fn upgrade_failed(
    s: &Snapshot,
    if_it_fails: &UpgradeFailed,
    e: &OpError,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<RoundEnd, ExecError> {
    let _ = workload.start();
    let cause = format!("cannot upgrade ZooKeeper: {}", chain(e));
    if let Some(upgrade) = &s.upgrade {
        write(
            tools,
            &upgrade.id,
            false,
            &if_it_fails.upgrade_unit.to_bag(),
        )?;
    }
    let _ = local_state::record_upgrade_failure(workload, &cause);
    log::error!("{cause}");
    Ok(RoundEnd::Stop(Status::blocked(format!(
        "upgrade failed: {cause}; {}",
        if_it_fails.roll_back
    ))))
}

fn write(
    tools: &dyn HookTools,
    relation_id: &str,
    app: bool,
    bag: &Databag,
) -> Result<(), ToolError> {
    if bag.is_empty() {
        return Ok(());
    }
    tools.relation_set(relation_id, app, bag)
}

/// Writes the rendered files. A first start gets the given dynamic config; otherwise the
/// `dynamicConfigFile` ZooKeeper maintains is kept: read again from `zoo.cfg` now, not
/// taken from the snapshot, because ZooKeeper rewrites it after every reconfig, also one
/// that another unit made while this hook ran (a unit leaving mid-upgrade). Pointing the
/// server back at the older membership would start it with a voter that is gone.
fn write_files(
    s: &Snapshot,
    r: &Rendered,
    initial: Option<&[ServerSpec]>,
    workload: &dyn Workload,
) -> Result<(), WorkloadError> {
    let p = workload.paths();
    let dynamic = match initial {
        Some(members) => {
            workload.write_file(
                &p.initial_dynamic(),
                dynamic_config(members).as_bytes(),
                0o600,
            )?;
            p.initial_dynamic()
        }
        None => workload
            .read_file(&p.zoo_cfg())?
            .as_deref()
            .and_then(dynamic_config_file)
            .or_else(|| s.workload.dynamic_config_file.clone())
            .map(Into::into)
            .unwrap_or_else(|| p.initial_dynamic()),
    };
    workload.write_file(&p.myid(), r.myid.as_bytes(), 0o640)?;
    if let Some(jmx) = &r.jmx_exporter {
        // Read by the exporter inside the server's JVM; it holds no secret.
        workload.write_file(&jmx.config_path, jmx.config.as_bytes(), 0o640)?;
    }
    workload.write_file(&p.jaas(), r.jaas.as_bytes(), 0o600)?;
    // Earlier revisions wrote the super password there; nothing reads it.
    if workload
        .read_file(&p.client_jaas())?
        .is_some_and(|t| !t.is_empty())
    {
        workload.write_file(&p.client_jaas(), b"", 0o600)?;
    }
    workload.write_file(&p.zoo_cfg(), r.zoo_cfg(&dynamic).as_bytes(), 0o600)?;
    workload.set_jvm_flags(&r.jvm_flags)
}

/// Starts the server (`restart`: stops it first) with the files written and its data
/// directories prepared, then waits until it is synced, or stops waiting as soon as it
/// exited (with the cause it logged). Records what it was started with once it runs.
fn start(
    s: &Snapshot,
    r: &Rendered,
    fingerprint: &str,
    initial: Option<&[ServerSpec]>,
    restart: bool,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<(), OpError> {
    workload.prepare_data_dirs()?;
    write_files(s, r, initial, workload)?;
    if restart {
        workload.stop()?;
    }
    let mark = workload.log_mark();
    workload.start()?;
    // Recorded before the wait: a server that exits at start may have run with it.
    local_state::record_started_tls(workload, r.tls.mode)?;
    wait_up(s, workload, ensemble, mark)?;
    Ok(local_state::record_started_with(workload, fingerprint)?)
}

/// Waits up to [`SYNC_TIMEOUT`] for the just-started server to sync, checking every
/// [`EXIT_CHECK`] that it still runs. A server that is still syncing at the deadline is
/// left to the next hooks; one that exited is [`OpError::ExitedAtStart`]. The checks are
/// also counted (as many as fit in the timeout): an ensemble that answers at once, as the
/// in-memory one does, ends the wait after that many instead of spinning until the deadline.
fn wait_up(
    s: &Snapshot,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
    mark: u64,
) -> Result<(), OpError> {
    let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
    let checks = SYNC_TIMEOUT.as_millis() / EXIT_CHECK.as_millis();
    for check in 1.. {
        if let Some(addr) = s.address {
            if ensemble.wait_synced(&addr.to_string(), EXIT_CHECK) {
                return Ok(());
            }
        } else {
            std::thread::sleep(EXIT_CHECK);
        }
        if !workload.is_running()? {
            let cause = workload
                .exit_cause(mark)
                .unwrap_or_else(|| "it logged no error before exiting".to_string());
            return Err(OpError::ExitedAtStart(cause));
        }
        if s.address.is_none() || std::time::Instant::now() >= deadline || check >= checks {
            return Ok(());
        }
    }
    Ok(())
}

fn workload_op(
    s: &Snapshot,
    files: Option<(&Rendered, &str)>,
    op: &WorkloadOp,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<(), OpError> {
    let need = || files.ok_or(OpError::NothingRendered);
    match op {
        WorkloadOp::Install => Ok(workload.install()?),
        WorkloadOp::Stop => Ok(workload.stop()?),
        WorkloadOp::Purge {
            retain,
            used_percent,
            frees,
        } => {
            workload.purge(*retain)?;
            log::info!(
                "data disk {used_percent}% full: purged {} old snapshots and {} old transaction logs (about {}), keeping the newest {retain} snapshots",
                frees.snapshots,
                frees.logs,
                Size(frees.bytes)
            );
            Ok(())
        }
        WorkloadOp::Start { initial_members } => {
            let (r, f) = need()?;
            start(
                s,
                r,
                f,
                initial_members.as_deref(),
                false,
                workload,
                ensemble,
            )
        }
        WorkloadOp::Upgrade { .. } => {
            let (r, f) = need()?;
            workload.stop()?;
            workload.refresh()?;
            start(s, r, f, None, false, workload, ensemble)?;
            Ok(local_state::clear_upgrade_pending(workload)?)
        }
        WorkloadOp::Restart => {
            let (r, f) = need()?;
            start(s, r, f, None, true, workload, ensemble)
        }
    }
}

/// Applies membership changes through reconfig as `super`. Returns a status to stop on
/// when ZooKeeper refused or could not be reached.
fn membership(s: &Snapshot, ops: &[MembershipOp], ensemble: &dyn Ensemble) -> Option<Status> {
    let super_password = s.credentials()?.super_password.clone()?;
    let hosts = serving_hosts(s);
    if hosts.is_empty() {
        return Some(Status::waiting(
            "no ZooKeeper server answers; cannot change the quorum membership",
        ));
    }
    let version = s.ensemble.config.as_ref().map(|c| c.version);
    let mut session = match ensemble.reconfig_session(&hosts, super_password.as_str()) {
        Ok(session) => session,
        Err(e) => {
            log::warn!("cannot connect to ZooKeeper for a reconfig: {}", chain(&e));
            return Some(Status::waiting(format!(
                "cannot connect to ZooKeeper to change the membership: {}",
                chain(&e)
            )));
        }
    };
    for op in ops {
        let what = match op {
            MembershipOp::Add(spec) => format!("add server {} ({})", spec.id, spec.host),
            MembershipOp::Remove { server_id } => format!("remove server {server_id}"),
        };
        match session.apply(op, version) {
            Ok(cfg) => log::info!("reconfig: {what}: voters now {:?}", cfg.voters()),
            Err(e) => {
                log::warn!("reconfig: cannot {what}: {}", chain(&e));
                return Some(Status::waiting(format!(
                    "cannot {what} yet: {}; will retry",
                    chain(&e)
                )));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CharmConfig;
    use crate::fixtures::{addr, following, World};
    use crate::render::Sizing;
    use crate::workload::mem::MemWorkload;
    use crate::zk::fake::FakeEnsemble;

    /// The hook saw `zoo.cfg` point at the membership {1, 3}; while it ran, unit 3 left
    /// with a reconfig and ZooKeeper pointed `zoo.cfg` at the membership {1}. Then this
    /// unit restarts (or, with `upgrade`, stops, refreshes and starts): the `zoo.cfg` it
    /// starts with, and the static part the charm renders.
    fn started_after_a_reconfig_meanwhile(upgrade: bool) -> (String, String) {
        let world = World::unit(0, &[0, 2]);
        let w = MemWorkload::new()
            .installed_at(crate::deps::ZOOKEEPER_VERSION)
            .running();
        let conf = w.paths().conf_dir.clone();
        let seen = conf.join("zoo.cfg.dynamic.100000040");
        let now = conf.join("zoo.cfg.dynamic.300000027");
        let mut s = world.snapshot();
        s.workload.dynamic_config_file = Some(seen.display().to_string());
        let rewritten = format!("tickTime=2000\ndynamicConfigFile={}\n", now.display());
        w.write_file(&w.paths().zoo_cfg(), rewritten.as_bytes(), 0o600)
            .unwrap();
        let config = CharmConfig::default();
        let r = Rendered::new(
            &config,
            w.paths(),
            0,
            &world.passwords(),
            &Sizing::app_wide(&config),
        );
        let e = FakeEnsemble::new().voter(1, &addr(0), following());
        if upgrade {
            w.stop().unwrap();
            w.refresh().unwrap();
        }
        start(&s, &r, "fingerprint", None, !upgrade, &w, &e).unwrap();
        (w.file(&w.paths().zoo_cfg()).unwrap(), r.zoo_cfg_static)
    }

    #[test]
    fn a_restart_or_upgrade_keeps_the_dynamic_config_zookeeper_points_at_when_the_files_are_written(
    ) {
        for upgrade in [false, true] {
            let (cfg, rendered) = started_after_a_reconfig_meanwhile(upgrade);
            assert!(
                cfg.contains("dynamicConfigFile=/mem/conf/zoo.cfg.dynamic.300000027\n"),
                "upgrade {upgrade}: {cfg}"
            );
            assert!(!cfg.contains("100000040"), "upgrade {upgrade}: {cfg}");
            // The rest is what the charm renders.
            assert_eq!(
                cfg.strip_suffix("dynamicConfigFile=/mem/conf/zoo.cfg.dynamic.300000027\n"),
                Some(rendered.as_str())
            );
        }
    }
}

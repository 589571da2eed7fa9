//! Carries out a [`Plan`]: relation writes, workload operations, membership changes.
//!
//! Guarantees: relation writes go through the hook tools (so Juju commits them only if the
//! hook succeeds); files are written before the server (re)starts; the fingerprint of what a
//! server was started with is recorded right after it starts; after a failed reconfig the
//! next round re-reads the live config (a reconfig can succeed behind a ConnectionLoss).

use std::time::{Duration, Instant};

use crate::decide::{MembershipOp, Plan, WorkloadOp};
use crate::hooktools::{Databag, HookTools, ToolError};
use crate::observe::{server_health, STARTED_WITH_FILE};
use crate::render::{dynamic_config, Rendered};
use crate::snapshot::{Snapshot, SUPER_PASSWORD_KEY, SYNC_PASSWORD_KEY};
use crate::status::Status;
use crate::workload::{Workload, WorkloadError};
use crate::zk::{self, ServerSpec};

/// How long a started server may take to serve and sync before the hook moves on.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(40);
/// Timeout of a reconfig session.
pub const RECONFIG_TIMEOUT: Duration = Duration::from_secs(10);

/// A fault that fails the hook.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Random(#[from] crate::passwords::RandomError),
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything in the plan was done.
    Done,
    /// Something recoverable went wrong; stop this hook's rounds and report this status.
    Stop(Status),
}

/// Executes `plan`, decided from `s`.
///
/// # Errors
/// Only when a hook tool fails: workload and ZooKeeper trouble becomes [`Outcome::Stop`].
pub fn execute(
    s: &Snapshot,
    plan: &Plan,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<Outcome, ExecError> {
    if plan.generate_passwords {
        if let Some(cluster) = &s.cluster {
            let mut bag = Databag::new();
            for key in [SUPER_PASSWORD_KEY, SYNC_PASSWORD_KEY] {
                if cluster.app_value(key).is_none() {
                    bag.insert(key.into(), crate::passwords::generate()?);
                }
            }
            tools.relation_set(&cluster.id, true, &bag)?;
        }
    }
    if let Some(cluster) = &s.cluster {
        write_bag(tools, &cluster.id, false, &plan.cluster_unit)?;
        write_bag(tools, &cluster.id, true, &plan.cluster_app)?;
    }
    if let Some(restart) = &s.restart {
        write_bag(tools, &restart.id, false, &plan.restart_unit)?;
        write_bag(tools, &restart.id, true, &plan.restart_app)?;
    }
    if let Some(upgrade) = &s.upgrade {
        write_bag(tools, &upgrade.id, false, &plan.upgrade_unit)?;
        write_bag(tools, &upgrade.id, true, &plan.upgrade_app)?;
    }
    if let Some(cause) = &plan.upgrade_failure {
        log::error!("upgrade failed: {cause}");
        if let Err(e) = write_state(workload, crate::upgrade_flow::FAILURE_FILE, cause) {
            return Ok(Outcome::Stop(Status::blocked(format!(
                "cannot record the upgrade failure: {e}",
                e = crate::report::chain(&e)
            ))));
        }
    }

    for op in &plan.workload {
        if let Err(e) = workload_op(s, plan.rendered.as_ref(), op, workload) {
            let what = match op {
                WorkloadOp::Install => "install",
                WorkloadOp::Start { .. } => "start",
                WorkloadOp::Restart => "restart",
                WorkloadOp::Upgrade => "upgrade",
                WorkloadOp::Stop => "stop",
            };
            if *op == WorkloadOp::Upgrade {
                // Keep serving with what is installed, and stop the rollout here.
                let _ = workload.start();
                let cause = format!(
                    "cannot upgrade ZooKeeper: {e}",
                    e = crate::report::chain(&e)
                );
                if let Some(upgrade) = &s.upgrade {
                    let bag = Databag::from([(
                        crate::upgrade_flow::STATE_KEY.to_string(),
                        "failed".to_string(),
                    )]);
                    tools.relation_set(&upgrade.id, false, &bag)?;
                }
                let _ = write_state(workload, crate::upgrade_flow::FAILURE_FILE, &cause);
                log::error!("{cause}");
                return Ok(Outcome::Stop(Status::blocked(format!(
                    "upgrade failed: {cause}; {}",
                    crate::upgrade_flow::ROLLBACK
                ))));
            }
            log::error!("cannot {what} ZooKeeper: {}", crate::report::chain(&e));
            return Ok(Outcome::Stop(Status::blocked(format!(
                "cannot {what} ZooKeeper: {e}",
                e = crate::report::chain(&e)
            ))));
        }
    }

    if !plan.membership.is_empty() {
        if let Some(status) = membership(s, &plan.membership) {
            return Ok(Outcome::Stop(status));
        }
    }
    Ok(Outcome::Done)
}

fn write_bag(
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
/// `dynamicConfigFile` ZooKeeper maintains is kept.
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
        None => s
            .workload
            .dynamic_config_file
            .as_ref()
            .map(Into::into)
            .unwrap_or_else(|| p.initial_dynamic()),
    };
    workload.write_file(&p.myid(), r.myid.as_bytes(), 0o640)?;
    workload.write_file(&p.jaas(), r.jaas.as_bytes(), 0o600)?;
    workload.write_file(&p.client_jaas(), r.client_jaas.as_bytes(), 0o600)?;
    workload.write_file(&p.zoo_cfg(), r.zoo_cfg(&dynamic).as_bytes(), 0o600)?;
    workload.set_jvm_flags(&r.jvm_flags)
}

fn record_started_with(r: &Rendered, workload: &dyn Workload) -> Result<(), WorkloadError> {
    write_state(workload, STARTED_WITH_FILE, &r.fingerprint())
}

/// Writes a file of the charm's private state (an empty value clears it).
pub fn write_state(workload: &dyn Workload, name: &str, value: &str) -> Result<(), WorkloadError> {
    let path = workload.paths().charm_state_dir.join(name);
    workload.write_file(&path, format!("{value}\n").as_bytes(), 0o600)
}

/// Polls this unit's server until it serves and is synced, up to `timeout`.
pub fn wait_synced(host: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if server_health(host).synced() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn workload_op(
    s: &Snapshot,
    rendered: Option<&Rendered>,
    op: &WorkloadOp,
    workload: &dyn Workload,
) -> Result<(), WorkloadError> {
    let need =
        || rendered.ok_or_else(|| WorkloadError::Other("nothing rendered to start with".into()));
    match op {
        WorkloadOp::Install => workload.install(),
        WorkloadOp::Stop => workload.stop(),
        WorkloadOp::Start { initial_members } => {
            let r = need()?;
            write_files(s, r, initial_members.as_deref(), workload)?;
            workload.start()?;
            record_started_with(r, workload)?;
            if let Some(addr) = &s.address {
                wait_synced(addr, SYNC_TIMEOUT);
            }
            Ok(())
        }
        WorkloadOp::Upgrade => {
            let r = need()?;
            workload.stop()?;
            workload.refresh()?;
            write_files(s, r, None, workload)?;
            workload.start()?;
            record_started_with(r, workload)?;
            if let Some(addr) = &s.address {
                wait_synced(addr, SYNC_TIMEOUT);
            }
            write_state(workload, crate::upgrade_flow::PENDING_FILE, "")?;
            Ok(())
        }
        WorkloadOp::Restart => {
            let r = need()?;
            write_files(s, r, None, workload)?;
            workload.stop()?;
            workload.start()?;
            record_started_with(r, workload)?;
            if let Some(addr) = &s.address {
                wait_synced(addr, SYNC_TIMEOUT);
            }
            Ok(())
        }
    }
}

/// Applies membership changes through reconfig as `super`. Returns a status to stop on
/// when ZooKeeper refused or could not be reached.
fn membership(s: &Snapshot, ops: &[MembershipOp]) -> Option<Status> {
    let passwords = s.passwords()?;
    let mut hosts: Vec<String> = s
        .ensemble
        .health
        .iter()
        .filter(|(_, h)| h.serving)
        .filter_map(|(id, _)| s.unit_address(*id))
        .collect();
    hosts.sort();
    if hosts.is_empty() {
        return Some(Status::waiting(
            "no ZooKeeper server answers; cannot change the quorum membership",
        ));
    }
    let version = s.ensemble.config.as_ref().map(|c| c.version);
    let mut admin =
        match zk::admin::Admin::connect(&hosts, &passwords.super_password, RECONFIG_TIMEOUT) {
            Ok(a) => a,
            Err(e) => {
                log::warn!(
                    "cannot connect to ZooKeeper for a reconfig: {}",
                    crate::report::chain(&e)
                );
                return Some(Status::waiting(format!(
                    "cannot connect to ZooKeeper to change the membership: {e}",
                    e = crate::report::chain(&e)
                )));
            }
        };
    for op in ops {
        let (what, result) = match op {
            MembershipOp::Add(spec) => (
                format!("add server {} ({})", spec.id, spec.host),
                admin.add_member(spec, version),
            ),
            MembershipOp::Remove { server_id } => (
                format!("remove server {server_id}"),
                admin.remove_member(*server_id, version),
            ),
        };
        match result {
            Ok(cfg) => {
                log::info!("reconfig: {what}: voters now {:?}", cfg.voters());
            }
            Err(e) => {
                log::warn!("reconfig: cannot {what}: {}", crate::report::chain(&e));
                return Some(Status::waiting(format!(
                    "cannot {what} yet: {e}; will retry",
                    e = crate::report::chain(&e)
                )));
            }
        }
    }
    None
}

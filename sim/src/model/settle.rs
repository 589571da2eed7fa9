//! `settle`: run hooks until the model is quiet, within bounds.

use std::fmt;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::Model;
use crate::state::{HookKind, HookSpec, Life};
use crate::SimError;

/// Bounds and pacing of [`Model::settle`].
#[derive(Debug, Clone, PartialEq)]
pub struct SettleLimits {
    /// Give up after this many hook/action runs.
    pub max_hooks: usize,
    /// Give up after this much wall time.
    pub timeout: Duration,
    /// Real time slept before each simulated 5-minute `update-status` tick, so the
    /// workload (a JVM starting, an election) gets time to move between ticks.
    pub tick_interval: Duration,
    /// Real time slept before retrying a failed hook.
    pub retry_delay: Duration,
    /// Keep ticking until every unit's workload status is `active` (or the timeout).
    pub until_active: bool,
}

impl Default for SettleLimits {
    fn default() -> Self {
        SettleLimits {
            max_hooks: 2000,
            timeout: Duration::from_secs(600),
            tick_interval: Duration::from_secs(1),
            retry_delay: Duration::from_secs(1),
            until_active: false,
        }
    }
}

impl SettleLimits {
    /// No real-time pacing: for charms whose hooks do not wait on a workload.
    pub fn fast() -> Self {
        SettleLimits {
            tick_interval: Duration::ZERO,
            retry_delay: Duration::ZERO,
            timeout: Duration::from_secs(60),
            ..SettleLimits::default()
        }
    }
}

/// What a `settle` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettleReport {
    /// Hook and action runs (including retries and update-status).
    pub hooks: usize,
    pub retries: usize,
    pub update_status_rounds: usize,
    pub elapsed: Duration,
    /// Units left in error (`zookeeper/1: hook failed: "start"`), when settle gave up.
    pub units_in_error: Vec<String>,
}

impl fmt::Display for SettleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hooks in {:.1}s",
            self.hooks,
            self.elapsed.as_secs_f64()
        )?;
        if self.retries > 0 {
            write!(f, " ({} retries)", self.retries)?;
        }
        if self.units_in_error.is_empty() {
            write!(f, ", all units idle")
        } else {
            write!(f, ", in error: {}", self.units_in_error.join("; "))
        }
    }
}

/// What a quiet `update-status` tick must leave unchanged.
#[derive(Debug, PartialEq)]
struct TickSnapshot {
    enqueued: u64,
    units: Vec<(String, String, String)>,
    app: (String, String),
}

impl Model {
    /// Runs hooks until the model is quiet: no hook queued, failed hooks retried (bounded
    /// by `Switches::hook_retries`), then simulated `update-status` ticks until a whole tick
    /// queued nothing new, left no unit in error and changed no status.
    pub fn settle(&mut self, limits: SettleLimits) -> Result<SettleReport, SimError> {
        let _runner = self.runner()?;
        let start = Instant::now();
        let mut report = SettleReport::default();
        loop {
            self.drain(&limits, start, &mut report)?;
            let (retryable, stuck) = self.error_units()?;
            if !retryable.is_empty() {
                sleep(limits.retry_delay);
                if self.retry_one()?.is_some() {
                    report.hooks += 1;
                    report.retries += 1;
                    self.check_limits(&limits, start, &mut report)?;
                }
                continue;
            }
            if !stuck.is_empty() {
                report.elapsed = start.elapsed();
                report.units_in_error = stuck.clone();
                return Err(SimError::Unsettled {
                    reason: format!("retries exhausted: {}", stuck.join("; ")),
                    report: Box::new(report),
                });
            }
            let before = self.tick_snapshot()?;
            sleep(limits.tick_interval);
            {
                let mut g = self.lock()?;
                for u in g.st.units_by_number() {
                    let unit = &g.st.units[&u];
                    if unit.life == Life::Alive && unit.error.is_none() {
                        g.st.enqueue(&u, HookSpec::plain(HookKind::UpdateStatus));
                    }
                }
                g.save()?;
            }
            report.update_status_rounds += 1;
            self.drain(&limits, start, &mut report)?;
            let after = self.tick_snapshot()?;
            let (retryable, stuck) = self.error_units()?;
            let quiet = before == after && retryable.is_empty() && stuck.is_empty();
            if quiet && (!limits.until_active || self.all_active()?) {
                break;
            }
            self.check_limits(&limits, start, &mut report)?;
        }
        report.elapsed = start.elapsed();
        Ok(report)
    }

    fn drain(
        &mut self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
    ) -> Result<(), SimError> {
        while self.step_inner()?.is_some() {
            report.hooks += 1;
            self.check_limits(limits, start, report)?;
        }
        Ok(())
    }

    fn check_limits(
        &self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
    ) -> Result<(), SimError> {
        let reason = if report.hooks >= limits.max_hooks {
            format!("ran {} hooks, the --max-hooks bound", report.hooks)
        } else if start.elapsed() >= limits.timeout {
            let mut r = format!("not settled after {}s", limits.timeout.as_secs());
            if limits.until_active {
                let waiting: Vec<String> = self
                    .status()?
                    .into_iter()
                    .filter(|u| u.workload != "active")
                    .map(|u| format!("{} {}: {}", u.unit, u.workload, u.message))
                    .collect();
                if !waiting.is_empty() {
                    r += &format!(" (not active: {})", waiting.join("; "));
                }
            }
            r
        } else {
            return Ok(());
        };
        report.elapsed = start.elapsed();
        report.units_in_error = self.error_units()?.1;
        Err(SimError::Unsettled {
            reason,
            report: Box::new(report.clone()),
        })
    }

    /// (units in error with retries left, descriptions of units out of retries).
    fn error_units(&self) -> Result<(Vec<String>, Vec<String>), SimError> {
        let g = self.lock()?;
        let max = g.st.switches.hook_retries;
        let mut retryable = Vec::new();
        let mut stuck = Vec::new();
        for u in g.st.units.values() {
            if let Some(e) = &u.error {
                if e.failures <= max {
                    retryable.push(u.name.clone());
                } else {
                    stuck.push(format!(
                        "{}: hook failed: {:?} after {} attempts ({})",
                        u.name, e.hook.name, e.failures, e.reason
                    ));
                }
            }
        }
        Ok((retryable, stuck))
    }

    /// What a quiet tick must leave unchanged.
    fn tick_snapshot(&self) -> Result<TickSnapshot, SimError> {
        let g = self.lock()?;
        let units =
            g.st.units
                .values()
                .map(|u| {
                    (
                        u.name.clone(),
                        u.workload.status.clone(),
                        u.workload.message.clone(),
                    )
                })
                .collect();
        Ok(TickSnapshot {
            enqueued: g.st.enqueued,
            units,
            app: (
                g.st.app_status.status.clone(),
                g.st.app_status.message.clone(),
            ),
        })
    }

    fn all_active(&self) -> Result<bool, SimError> {
        Ok(self.status()?.iter().all(|u| u.workload == "active"))
    }
}

//! The `sync` password rotation.

use super::*;
use crate::peers::cluster::{SyncRotation, SyncUser};
use crate::peers::restart::LockRequest;

#[test]
fn a_sync_rotation_relaxes_then_switches_then_enforces() {
    let rel = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "relax");
    let old = ("sync".to_string(), "Y".repeat(32));
    let new = ("sync2".to_string(), "N".to_string());
    // Every server also accepts the new user, and still logs in as the old one.
    let p = rel.passwords();
    assert_eq!(p.sync_login, old);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let sw = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "switch");
    // Every server logs in as the new user; both are accepted.
    let p = sw.passwords();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let en = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "enforce");
    // Only the new user is accepted.
    let p = en.passwords();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![new.clone()]);
    // The next rotation goes back to the first user name.
    let again = healthy3(1)
        .app("sync-user", "sync2")
        .app("sync-password-new", "M")
        .app("sync-rotation", "switch");
    let p = again.passwords();
    assert_eq!(p.sync_login, ("sync".to_string(), "M".to_string()));
    assert_eq!(
        p.sync_accepted,
        vec![
            ("sync2".to_string(), "Y".repeat(32)),
            ("sync".to_string(), "M".to_string())
        ]
    );
    // Each phase changes the files: a restart through the lock.
    assert_eq!(
        rel.plan().restart_unit.request,
        Some(Some(LockRequest::Acquire))
    );
}

#[test]
fn leader_moves_the_rotation_on_only_when_every_unit_runs_the_phase() {
    let w = healthy3(0)
        .leader()
        .app("sync-password-new", "N")
        .app("sync-rotation", "relax")
        .cluster_unit(0, "sync-phase", "relax")
        .cluster_unit(1, "sync-phase", "relax");
    assert_eq!(
        w.plan().cluster_app.sync_rotation,
        None,
        "unit 2 is not there yet"
    );
    let w = w.cluster_unit(2, "sync-phase", "relax");
    assert_eq!(
        w.plan().cluster_app.sync_rotation,
        Some(Some(SyncRotation::Switch))
    );
}

#[test]
fn the_last_phase_makes_the_new_sync_password_the_current_one() {
    let w = healthy3(0)
        .leader()
        .app("sync-password-new", "N")
        .app("sync-rotation", "enforce")
        .cluster_unit(0, "sync-phase", "enforce")
        .cluster_unit(1, "sync-phase", "enforce")
        .cluster_unit(2, "sync-phase", "enforce");
    let plan = w.plan();
    assert_eq!(plan.cluster_app.sync_password.as_deref(), Some("N"));
    assert_eq!(plan.cluster_app.sync_user, Some(SyncUser::Sync2));
    // The servers already run with what the completed rotation renders: no restart.
    let mut done = w.clone();
    for (k, v) in plan.cluster_app.to_bag() {
        if v.is_empty() {
            done.cluster.app.remove(&k);
        } else {
            done = done.app(&k, &v);
        }
    }
    assert_eq!(done.passwords().sync_login, w.passwords().sync_login);
    assert_eq!(done.passwords().sync_accepted, w.passwords().sync_accepted);
    assert_eq!(plan.cluster_app.sync_password_new, Some(None));
    assert_eq!(plan.cluster_app.sync_rotation, Some(None));
}

#[test]
fn a_rotation_phase_without_the_new_password_is_no_rotation() {
    let w = healthy3(1).app("sync-rotation", "switch");
    assert_eq!(w.snapshot().sync_rotation(), None);
    let p = w.passwords();
    assert_eq!(p.sync_accepted, vec![p.sync_login.clone()]);
}

//! The `sync` password rotation.

use super::*;
use crate::passwords::Password;
use crate::peers::cluster::{SyncRotation, SyncUser};
use crate::peers::restart::LockRequest;

const NEW: &str = "new-sync-password";

fn pw(s: &str) -> Password {
    Password::new(s).unwrap()
}

#[test]
fn a_sync_rotation_relaxes_then_switches_then_enforces() {
    let rel = healthy3(1)
        .secret("sync-password-new", NEW)
        .app("sync-rotation", "relax");
    let old = ("sync".to_string(), pw(&"Y".repeat(32)));
    let new = ("sync2".to_string(), pw(NEW));
    // Every server also accepts the new user, and still logs in as the old one.
    let p = rel.passwords();
    assert_eq!(p.sync_login, old);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let sw = healthy3(1)
        .secret("sync-password-new", NEW)
        .app("sync-rotation", "switch");
    // Every server logs in as the new user; both are accepted.
    let p = sw.passwords();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let en = healthy3(1)
        .secret("sync-password-new", NEW)
        .app("sync-rotation", "enforce");
    // Only the new user is accepted.
    let p = en.passwords();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![new.clone()]);
    // The next rotation goes back to the first user name.
    let again = healthy3(1)
        .app("sync-user", "sync2")
        .secret("sync-password-new", "another-sync-pw")
        .app("sync-rotation", "switch");
    let p = again.passwords();
    assert_eq!(p.sync_login, ("sync".to_string(), pw("another-sync-pw")));
    assert_eq!(
        p.sync_accepted,
        vec![
            ("sync2".to_string(), pw(&"Y".repeat(32))),
            ("sync".to_string(), pw("another-sync-pw"))
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
        .secret("sync-password-new", NEW)
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
        .secret("sync-password-new", NEW)
        .app("sync-rotation", "enforce")
        .cluster_unit(0, "sync-phase", "enforce")
        .cluster_unit(1, "sync-phase", "enforce")
        .cluster_unit(2, "sync-phase", "enforce");
    // It needs the secret's content.
    assert!(w.clone().not_loaded().plan().need_credentials);
    let plan = w.plan();
    let content = match &plan.secret {
        Some(SecretWrite::Update { content, .. }) => content.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(content.sync_password, Some(pw(NEW)));
    assert_eq!(content.sync_password_new, None);
    assert_eq!(plan.cluster_app.sync_user, Some(SyncUser::Sync2));
    assert_eq!(
        plan.cluster_app.secret_generation, None,
        "the files stay the same"
    );
    // The servers already run with what the completed rotation renders: no restart.
    let mut done = w.clone();
    for (k, v) in plan.cluster_app.to_bag() {
        if v.is_empty() {
            done.cluster.app.remove(&k);
        } else {
            done = done.app(&k, &v);
        }
    }
    done.secret = content.to_content().0;
    assert_eq!(done.passwords().sync_login, w.passwords().sync_login);
    assert_eq!(done.passwords().sync_accepted, w.passwords().sync_accepted);
    assert_eq!(done.current_fingerprint(), w.current_fingerprint());
    assert_eq!(plan.cluster_app.sync_rotation, Some(None));
}

#[test]
fn a_rotation_phase_without_the_new_password_blocks_and_says_what_to_run() {
    let w = healthy3(1)
        .app("sync-rotation", "switch")
        .restart_unit(1, "state", "acquire")
        .restart_app("zookeeper/1", "granted");
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "{plan:?}");
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked, "{st:?}");
    assert!(st.message.contains("sync-password-new"), "{st:?}");
}

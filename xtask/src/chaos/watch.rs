//! Watching ZooKeeper between hooks: after every hook, one sample of every unit's server
//! goes into the test kit's checker of "at most one server out of service through the
//! charm" and "no quorum lost through the charm".

use testkit::invariants::ServingInvariants;
use testkit::members::MembershipReader;
use testkit::watch::sample;
use zk_sim::Model;

/// Samples every unit's server after each hook (through a second handle on the model).
pub(super) struct Tracker {
    pub(super) model: Model,
    pub(super) invariants: ServingInvariants,
    pub(super) hooks: usize,
    members: MembershipReader,
}

impl Tracker {
    pub(super) fn new(model: Model) -> Tracker {
        Tracker {
            model,
            invariants: ServingInvariants::default(),
            hooks: 0,
            members: MembershipReader::new(),
        }
    }

    pub(super) fn sample(&mut self) {
        let (samples, voters) = sample(&self.model, &mut self.members);
        self.invariants.update(&samples, voters);
    }
}

//! The `zookeeper` relation on the local model (`zk-sim`) with real ZooKeeper servers: the
//! reference's acceptance checks CR-1 to CR-12 (`relation.rs`) and Kafka's contract KC-1,
//! KC-2 and KC-4 (`kafka.rs`), with scripted client stubs, a requirer written with ops
//! (`tests/charms/ops-requirer`), the `zookeeper-client` crate logging in with SASL
//! DIGEST-MD5 and with `digest`, and Debian's `zkCli` with a JAAS file (the README's
//! example).
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seeds.

mod kafka;
#[allow(dead_code)]
#[path = "../../sim/tests/common/ops.rs"]
mod ops;
mod relation;
mod support;

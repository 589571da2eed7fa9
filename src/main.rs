//! The charm's one binary: Juju runs it as `dispatch` for every hook and action.
//!
//! Thin on purpose: read the environment, build the real hook tools and the workload, run
//! [`zookeeper_charm::charm::run`], and turn a failure into a non-zero exit (Juju then puts
//! the unit in `error` and retries the hook). The error is written to stderr (the unit log
//! at WARNING) and to `juju-log` at ERROR, with its whole cause chain.

use std::process::ExitCode;

use zookeeper_charm::charm;
use zookeeper_charm::env::HookEnv;
use zookeeper_charm::hooktools::process::ProcessHookTools;
use zookeeper_charm::workload;

/// Exit code after a panic (a bug in the charm), distinct from a hook that failed.
const PANIC_EXIT: i32 = 101;

fn main() -> ExitCode {
    install_panic_hook();
    let argv0 = std::env::args().next().unwrap_or_default();
    let lookup = |k: &str| std::env::var(k).ok();
    let env = HookEnv::from_lookup(&lookup, &argv0);
    let tools = ProcessHookTools::new();
    zookeeper_charm::logging::init(tools.juju_log());
    let workload = workload::from_env(&lookup);
    let ensemble = zookeeper_charm::zk::ensemble::ZkEnsemble::default();
    match charm::run(&env, &tools, workload.as_ref(), &ensemble) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!(
                "{} failed: {}",
                zookeeper_charm::dispatch::Event::from_env(&env),
                zookeeper_charm::report::chain(&err)
            );
            eprintln!("zookeeper-charm: {message}");
            log::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// A panic is a bug: say so clearly on stderr and in the Juju log, and exit non-zero (also
/// under `panic = "abort"`, where this hook runs before the abort).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!(
            "internal error (a bug in the charm, please report it): {info}; the hook failed and Juju will retry it"
        );
        eprintln!("zookeeper-charm: {message}");
        log::error!("{message}");
        std::process::exit(PANIC_EXIT);
    }));
}

//! `zk-sim`'s command line: a subcommand per verb, Juju's names and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A local Juju model. Runs a real machine charm (a .charm zip or a charm directory) the
/// way Juju 3.6 would: one application, units on 127.0.0.11, .12, ..., fake hook tools,
/// hooks one at a time in an order chosen by a seed (same seed, same order).
#[derive(Debug, Parser)]
#[command(
    name = "zk-sim",
    arg_required_else_help = true,
    after_help = "Settling: deploy, add-unit, remove-unit, config k=v, run, refresh and leader \
queue hooks and then settle (--no-settle only queues; `zk-sim settle` runs them later). Settle \
runs queued hooks, retries failed hooks (up to 5 times), then simulated 5-minute update-status \
ticks until one tick queues nothing, changes no status and leaves no unit in error. One summary \
line per settle, failed hooks as they happen, every hook with -v.\n\nExit code 0 on success, \
1 on error."
)]
pub struct Cli {
    /// The model's directory
    #[arg(
        long,
        global = true,
        env = "SIM_DIR",
        default_value = ".sim",
        value_name = "DIR"
    )]
    pub model_dir: PathBuf,
    /// Print every hook run
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub verb: Verb,
}

/// Juju's verbs, and the sim's own.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Create the model and its units (unit n gets <prefix><11+n>); prints the seed
    Deploy(DeployArgs),
    /// Add units
    AddUnit {
        /// How many
        #[arg(short = 'n', long = "num-units", default_value_t = 1)]
        n: u32,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Depart, stop and remove units (their ZooKeeper is stopped by pid)
    RemoveUnit {
        #[arg(required = true, value_name = "UNIT")]
        units: Vec<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Print the config, one value (`config KEY`), or change it (`config k=v ...`; `k=`
    /// resets to the default)
    Config {
        #[arg(value_name = "KEY | KEY=VALUE")]
        args: Vec<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Run an action and print its results; exit 1 if it failed
    Run(RunArgs),
    /// Upgrade the charm (upgrade-charm, config-changed on every unit)
    Refresh {
        /// The new charm: a .charm zip or a charm directory
        #[arg(long, value_name = "CHARM")]
        path: PathBuf,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Move leadership (leader-elected there)
    Leader {
        unit: String,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Run queued hooks until the model is quiet
    Settle {
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Units: workload status, agent, address, ports, ZooKeeper role (`srvr` on
    /// <address>:2181); `*` marks the leader
    Status {
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// A unit's relation data (its bag, the others', the app bag)
    ShowUnit {
        unit: String,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// juju-log, action-log and hook output, as `juju debug-log` shows them
    DebugLog {
        /// Only this unit's lines
        #[arg(long)]
        unit: Option<String>,
        /// Only the last N lines
        #[arg(short = 'n', long, value_name = "N")]
        lines: Option<usize>,
    },
    /// Every hook and action run: unit, hook, remote unit, outcome
    HookLog {
        /// Only this unit's runs
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Make a hook tool fail (exit 1) the next N calls by that unit
    InjectFailure {
        unit: String,
        tool: String,
        #[arg(long, default_value_t = 1, value_name = "N")]
        times: u32,
    },
    /// Stop every ZooKeeper the units started (by pid), delete the model
    Destroy,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The charm (default: the one *.charm in the current directory)
    #[arg(long, value_name = "CHARM")]
    pub path: Option<PathBuf>,
    /// How many units
    #[arg(short = 'n', long = "num-units", default_value_t = 1)]
    pub n: u32,
    /// The scheduler's seed (default: a random one, printed so the run can be replayed)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Config before the first hook (repeatable)
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Unit n gets <prefix><11+n>
    #[arg(long, value_name = "127.0.K.")]
    pub address_prefix: Option<String>,
    #[command(flatten)]
    pub settle: SettleArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub unit: String,
    pub action: String,
    /// Params, YAML-typed as `juju run` types them
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Keep every param a string
    #[arg(long)]
    pub string_args: bool,
    #[command(flatten)]
    pub settle: SettleArgs,
}

/// Output formats besides the default (a table, or YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
}

/// Whether a mutating verb settles afterwards, and how.
#[derive(Debug, Args)]
pub struct SettleArgs {
    /// Only queue the hooks; `zk-sim settle` runs them later
    #[arg(long)]
    pub no_settle: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The bounds and pacing of a settle.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Give up after N hook runs
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_hooks: usize,
    /// Give up after S seconds
    #[arg(long, default_value_t = 600.0, value_name = "S")]
    pub timeout: f64,
    /// Real seconds between update-status ticks
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub tick: f64,
    /// Keep ticking until every unit is active (or the timeout)
    #[arg(long)]
    pub until_active: bool,
}

impl LimitArgs {
    pub fn limits(&self) -> zk_sim::SettleLimits {
        zk_sim::SettleLimits {
            max_hooks: self.max_hooks,
            timeout: std::time::Duration::from_secs_f64(self.timeout.max(0.0)),
            tick_interval: std::time::Duration::from_secs_f64(self.tick.max(0.0)),
            until_active: self.until_active,
            ..zk_sim::SettleLimits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_verb_and_settle_flags_are_typed() {
        let cli = Cli::try_parse_from([
            "zk-sim",
            "deploy",
            "-n",
            "3",
            "--tick",
            "0",
            "--model-dir",
            "/m",
            "--config",
            "a=1",
            "--config",
            "b=2",
        ])
        .unwrap();
        assert_eq!(cli.model_dir, PathBuf::from("/m"));
        let Verb::Deploy(d) = cli.verb else {
            panic!("not deploy")
        };
        assert_eq!((d.n, d.config.len()), (3, 2));
        assert_eq!(
            d.settle.limits.limits().tick_interval,
            std::time::Duration::ZERO
        );
        assert!(Cli::try_parse_from(["zk-sim", "-v", "settle", "--max-hooks", "x"]).is_err());
        assert!(Cli::try_parse_from(["zk-sim", "remove-unit"]).is_err());
        assert!(Cli::try_parse_from(["zk-sim", "status", "--format", "xml"]).is_err());
    }
}

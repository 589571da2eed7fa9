//! `zk-sim`'s command line: a subcommand per verb, Juju's names and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A local Juju model. Runs real machine charms (a .charm zip or a charm directory) and
/// scripted stubs the way Juju 3.6 would: applications, units on 127.0.0.11, .12, ... (one
/// address per machine), relations, secrets, fake hook tools, hooks one at a time in an order
/// chosen by a seed (same seed, same order).
#[derive(Debug, Parser)]
#[command(
    name = "zk-sim",
    arg_required_else_help = true,
    after_help = "Settling: deploy, add-unit, remove-unit, integrate, remove-relation, config \
k=v, run, refresh, leader and stub-set queue hooks and then settle (--no-settle only queues; \
`zk-sim settle` runs them later). Settle runs queued hooks, retries failed hooks (up to 5 \
times), then simulated 5-minute update-status ticks until one tick queues nothing, changes no \
status and leaves no unit in error. Progress goes to stderr: one summary line per settle, \
failed hooks as they happen, every hook with -v. With --format json every verb prints one JSON \
document on stdout.\n\nExit code 0 on success, 1 on error (exec: the command's)."
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
    /// Print the result as JSON (every verb)
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    #[command(subcommand)]
    pub verb: Verb,
}

/// Juju's verbs, and the sim's own.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Deploy an application (creating the model on first use; unit n of the model's
    /// machines gets <prefix><11+m>); prints the seed
    Deploy(DeployArgs),
    /// Add units to an application (default: the model's first)
    AddUnit {
        /// The application
        app: Option<String>,
        /// How many
        #[arg(short = 'n', long = "num-units", default_value_t = 1)]
        n: u32,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Depart, stop and remove units (their ZooKeeper is stopped by pid; subordinates go too)
    RemoveUnit {
        #[arg(required = true, value_name = "UNIT")]
        units: Vec<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Relate two applications (app[:endpoint] app[:endpoint])
    #[command(alias = "relate")]
    Integrate {
        a: String,
        b: String,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Remove a relation (app[:endpoint] app[:endpoint], or its id)
    RemoveRelation {
        a: String,
        b: Option<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Print an application's config, one value (`config [APP] KEY`), or change it
    /// (`config [APP] k=v ...`; `k=` resets to the default)
    Config {
        #[arg(value_name = "[APP] KEY | KEY=VALUE")]
        args: Vec<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Run an action and print its results; exit 1 if it failed
    Run(RunArgs),
    /// Run a command (a hook tool, a script) in a unit's hook context now; its writes commit
    /// if it exits 0. Exits with the command's code
    Exec {
        #[arg(long, short = 'u')]
        unit: String,
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Set relation data as a unit would: `app:endpoint k=v` writes the application's bag
    /// (as its leader), `app/N:endpoint k=v` the unit's bag (`k=` deletes)
    StubSet {
        #[arg(value_name = "APP[/N]:ENDPOINT")]
        target: String,
        /// The relation, when the endpoint has several
        #[arg(short = 'r', long = "relation")]
        relation: Option<u32>,
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        settle: SettleArgs,
    },
    /// Upgrade an application's charm (upgrade-charm, config-changed on every unit)
    Refresh {
        /// The application (default: the model's first)
        app: Option<String>,
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
    /// Applications, units (subordinates under their principal; `*` marks leaders) with
    /// workload status, agent, address, ports, ZooKeeper role (`srvr` on <address>:2181), and
    /// every relation
    Status {
        /// Accepted for juju's sake: relations are always shown
        #[arg(long)]
        relations: bool,
    },
    /// A unit's relation data (its bag, the others', the application bags)
    ShowUnit { unit: String },
    /// A secret's metadata, and with --reveal its content (by URI, id or owner label)
    ShowSecret {
        #[arg(value_name = "URI|ID|LABEL")]
        secret: String,
        #[arg(long)]
        reveal: bool,
    },
    /// Every secret: id, owner, label, revision
    Secrets,
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
    /// The charm: a .charm zip, a charm directory, or `stub` for a scripted stub (default:
    /// the one *.charm in the current directory)
    #[arg(value_name = "CHARM")]
    pub charm: Option<String>,
    /// The application's name (default: the charm's)
    #[arg(value_name = "APP")]
    pub app: Option<String>,
    /// The charm, as a flag (the first zk-sim form)
    #[arg(long, value_name = "CHARM", conflicts_with = "charm")]
    pub path: Option<PathBuf>,
    /// How many units
    #[arg(short = 'n', long = "num-units", default_value_t = 1)]
    pub n: u32,
    /// The scheduler's seed, when this deploy creates the model (default: a random one,
    /// printed so the run can be replayed)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Config before the first hook (repeatable)
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Machine m gets <prefix><11+m> (when this deploy creates the model)
    #[arg(long, value_name = "127.0.K.")]
    pub address_prefix: Option<String>,
    /// A stub's provides endpoint (repeatable)
    #[arg(long, value_name = "ENDPOINT:INTERFACE[:LIMIT]")]
    pub provides: Vec<String>,
    /// A stub's requires endpoint (repeatable)
    #[arg(long, value_name = "ENDPOINT:INTERFACE[:LIMIT]")]
    pub requires: Vec<String>,
    /// A stub's peer endpoint (repeatable)
    #[arg(long, value_name = "ENDPOINT:INTERFACE")]
    pub peer: Vec<String>,
    /// A subordinate stub attached over this container-scoped requires endpoint
    #[arg(long, value_name = "ENDPOINT:INTERFACE")]
    pub subordinate_to: Option<String>,
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
    /// Up to K units run a hook at the same time (one hook per unit, as on Juju); 1 runs
    /// one hook at a time so that a seed replays exactly
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Real seconds slept per model second of retry back-off and leadership lease
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub time_scale: f64,
}

impl LimitArgs {
    pub fn limits(&self) -> zk_sim::SettleLimits {
        zk_sim::SettleLimits {
            max_hooks: self.max_hooks,
            timeout: std::time::Duration::from_secs_f64(self.timeout.max(0.0)),
            tick_interval: std::time::Duration::from_secs_f64(self.tick.max(0.0)),
            until_active: self.until_active,
            parallel: usize::from(self.parallel),
            time_scale: self.time_scale.max(0.0),
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
            "--format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.model_dir, PathBuf::from("/m"));
        assert_eq!(cli.format, Some(Format::Json));
        let Verb::Deploy(d) = cli.verb else {
            panic!("not deploy")
        };
        assert_eq!((d.n, d.config.len()), (3, 2));
        assert_eq!(
            d.settle.limits.limits().tick_interval,
            std::time::Duration::ZERO
        );
        assert!(Cli::try_parse_from(["zk-sim", "-v", "settle", "--max-hooks", "x"]).is_err());
        assert!(Cli::try_parse_from(["zk-sim", "settle", "--parallel", "0"]).is_err());
        let cli = Cli::try_parse_from(["zk-sim", "settle", "--parallel", "3"]).unwrap();
        let Verb::Settle { limits } = cli.verb else {
            panic!("not settle")
        };
        assert_eq!(limits.limits().parallel, 3);
        assert!(Cli::try_parse_from(["zk-sim", "remove-unit"]).is_err());
        assert!(Cli::try_parse_from(["zk-sim", "status", "--format", "xml"]).is_err());
    }

    #[test]
    fn deploy_takes_a_charm_and_an_application_name_like_juju() {
        let cli =
            Cli::try_parse_from(["zk-sim", "deploy", "./zk.charm", "zk2", "-n", "2"]).unwrap();
        let Verb::Deploy(d) = cli.verb else {
            panic!("not deploy")
        };
        assert_eq!(d.charm.as_deref(), Some("./zk.charm"));
        assert_eq!(d.app.as_deref(), Some("zk2"));
        let cli = Cli::try_parse_from([
            "zk-sim",
            "deploy",
            "stub",
            "client",
            "--requires",
            "db:zookeeper",
        ])
        .unwrap();
        let Verb::Deploy(d) = cli.verb else {
            panic!("not deploy")
        };
        assert_eq!(d.requires, ["db:zookeeper"]);
        let cli =
            Cli::try_parse_from(["zk-sim", "exec", "--unit", "a/0", "--", "is-leader"]).unwrap();
        assert!(matches!(cli.verb, Verb::Exec { .. }));
    }
}

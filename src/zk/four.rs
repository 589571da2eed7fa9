//! ZooKeeper's four-letter words over plain TCP, with no client library.
//!
//! A 4lw is 4 bytes sent to the client port; the server writes its answer and closes the
//! connection. `srvr` and `mntr` are the health and role signals (`ruok` is not: it answers
//! `imok` even without quorum). Both answer `This ZooKeeper instance is not currently serving
//! requests` when the server has no quorum; that becomes [`ZkError::NotServing`]. The server
//! must allow the words in `4lw.commands.whitelist` (the charm sets `srvr,mntr,ruok`).
//! `conf` answers only servers still running an earlier revision's files (during a
//! refresh); the charm reads the membership as `super` ([`super::admin::Admin::get_config`]).
//!
//! `host` is an IP address (port [`CLIENT_PORT`]), or `ip:port`; host names are refused (a lookup
//! would block outside the deadline).

use super::{EnsembleConfig, Role, ServerSpec, ZkError, CLIENT_PORT};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The timeout [`srvr`], [`mntr`] and [`conf`] use.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// What `srvr`/`mntr` answer when the server has no quorum.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";
/// Replies are small (mntr is about 30 KB); more than this is not ZooKeeper.
const MAX_REPLY: u64 = 4 << 20;

/// A server's mode, from `srvr`'s `Mode:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    Standalone,
    ReadOnly,
}

impl Mode {
    /// The word ZooKeeper uses (`leader`, `follower`, `observer`, `standalone`, `read-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::Standalone => "standalone",
            Mode::ReadOnly => "read-only",
        }
    }

    fn parse(word: &str) -> Option<Mode> {
        Some(match word {
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            "observer" => Mode::Observer,
            "standalone" => Mode::Standalone,
            "read-only" | "readonly" => Mode::ReadOnly,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of `srvr` the charm uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srvr {
    /// `3.8.0` from `Zookeeper version: 3.8.0-<commit>, built on ...`.
    pub version: String,
    pub mode: Mode,
    /// The last zxid the server has seen.
    pub zxid: u64,
}

/// The parts of `mntr` the charm uses. The `synced_*`, `pending_syncs` and `learners`
/// fields are only reported by a leader; `peer_state` and `quorum_size` may be absent on some
/// versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mntr {
    /// `zk_server_state`: `leader`, `follower`, `observer`, `standalone`, `read-only`.
    pub server_state: String,
    /// `zk_peer_state`, e.g. `leading - broadcast` or `following - broadcast`.
    pub peer_state: Option<String>,
    pub synced_followers: Option<u64>,
    pub synced_non_voting_followers: Option<u64>,
    pub synced_observers: Option<u64>,
    pub pending_syncs: Option<u64>,
    pub quorum_size: Option<u64>,
    pub learners: Option<u64>,
    /// Every `zk_<key>` line, keyed without the `zk_` prefix.
    pub raw: BTreeMap<String, String>,
}

/// Sends the 4-letter word `cmd` to `host` and returns the whole reply. `timeout` bounds the
/// connect and the whole exchange.
pub fn command(host: &str, cmd: &str, timeout: Duration) -> Result<String, ZkError> {
    let display = display_addr(host);
    if cmd.len() != 4 || !cmd.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ZkError::Parse {
            addr: display,
            cmd: cmd.to_string(),
            detail: "a four-letter word is 4 lowercase letters".into(),
        });
    }
    let connect_err = |source| ZkError::Connect {
        addr: display.clone(),
        source,
    };
    let addr = resolve(host).map_err(connect_err)?;
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(connect_err)?;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
    };
    stream
        .set_write_timeout(Some(remaining().map_err(connect_err)?))
        .map_err(connect_err)?;
    stream.write_all(cmd.as_bytes()).map_err(connect_err)?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(remaining().map_err(connect_err)?))
            .map_err(connect_err)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.len() as u64 > MAX_REPLY {
                    return Err(ZkError::Parse {
                        addr: display,
                        cmd: cmd.into(),
                        detail: format!("reply longer than {MAX_REPLY} bytes"),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A server that closes right after writing may reset instead of FIN.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !reply.is_empty() => break,
            Err(e) => return Err(connect_err(e)),
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// `srvr` with [`DEFAULT_TIMEOUT`].
pub fn srvr(host: &str) -> Result<Srvr, ZkError> {
    srvr_within(host, DEFAULT_TIMEOUT)
}

/// `srvr` with the caller's timeout. [`ZkError::NotServing`] when the server has no quorum.
pub fn srvr_within(host: &str, timeout: Duration) -> Result<Srvr, ZkError> {
    let text = command(host, "srvr", timeout)?;
    check_serving(host, &text)?;
    parse_srvr(&text).map_err(|detail| parse_error(host, "srvr", detail))
}

/// `mntr` with [`DEFAULT_TIMEOUT`].
pub fn mntr(host: &str) -> Result<Mntr, ZkError> {
    mntr_within(host, DEFAULT_TIMEOUT)
}

/// `mntr` with the caller's timeout. [`ZkError::NotServing`] when the server has no quorum.
pub fn mntr_within(host: &str, timeout: Duration) -> Result<Mntr, ZkError> {
    let text = command(host, "mntr", timeout)?;
    check_serving(host, &text)?;
    parse_mntr(&text).map_err(|detail| parse_error(host, "mntr", detail))
}

/// The membership as `host` sees it (`conf`), with [`DEFAULT_TIMEOUT`].
pub fn conf(host: &str) -> Result<EnsembleConfig, ZkError> {
    conf_within(host, DEFAULT_TIMEOUT)
}

/// `conf` with the caller's timeout.
pub fn conf_within(host: &str, timeout: Duration) -> Result<EnsembleConfig, ZkError> {
    let text = command(host, "conf", timeout)?;
    check_serving(host, &text)?;
    parse_conf(&text).map_err(|detail| parse_error(host, "conf", detail))
}

fn check_serving(host: &str, text: &str) -> Result<(), ZkError> {
    if text.contains(NOT_SERVING) {
        return Err(ZkError::NotServing {
            addr: display_addr(host),
        });
    }
    Ok(())
}

fn parse_error(host: &str, cmd: &str, detail: String) -> ZkError {
    ZkError::Parse {
        addr: display_addr(host),
        cmd: cmd.into(),
        detail,
    }
}

fn display_addr(host: &str) -> String {
    if host.parse::<SocketAddr>().is_ok() {
        host.to_string()
    } else {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{CLIENT_PORT}"),
            _ => format!("{host}:{CLIENT_PORT}"),
        }
    }
}

/// The socket address of `host`: an IP address, with or without a port. Names are refused:
/// resolving one is a blocking call outside any deadline (the charm only ever has the IP
/// addresses Juju gave the units).
fn resolve(host: &str) -> std::io::Result<SocketAddr> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, CLIENT_PORT));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{host:?} is not an IP address (host names are not resolved)"),
    ))
}

/// Parses a `srvr` reply.
pub fn parse_srvr(text: &str) -> Result<Srvr, String> {
    if text.contains(NOT_SERVING) {
        return Err(NOT_SERVING.to_string());
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim))
            .ok_or_else(|| format!("no `{name}` line in {:?}", first_line(text)))
    };
    let version_field = field("Zookeeper version:")?;
    let version = version_field
        .split(['-', ','])
        .next()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("bad version {version_field:?}"))?
        .to_string();
    let mode_word = field("Mode:")?;
    let mode = Mode::parse(mode_word).ok_or_else(|| format!("unknown mode {mode_word:?}"))?;
    let zxid_text = field("Zxid:")?;
    let zxid = parse_hex(zxid_text).ok_or_else(|| format!("bad zxid {zxid_text:?}"))?;
    Ok(Srvr {
        version,
        mode,
        zxid,
    })
}

/// Parses a `mntr` reply (`zk_<key>\t<value>` lines).
pub fn parse_mntr(text: &str) -> Result<Mntr, String> {
    if text.contains(NOT_SERVING) {
        return Err(NOT_SERVING.to_string());
    }
    let raw: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t').or_else(|| l.split_once(' '))?;
            Some((
                k.trim().strip_prefix("zk_")?.to_string(),
                v.trim().to_string(),
            ))
        })
        .collect();
    let server_state = raw
        .get("server_state")
        .cloned()
        .ok_or_else(|| format!("no zk_server_state in {:?}", first_line(text)))?;
    let num = |k: &str| -> Result<Option<u64>, String> {
        raw.get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("zk_{k} is not a count: {v:?}"))
            })
            .transpose()
    };
    Ok(Mntr {
        peer_state: raw.get("peer_state").cloned(),
        synced_followers: num("synced_followers")?,
        synced_non_voting_followers: num("synced_non_voting_followers")?,
        synced_observers: num("synced_observers")?,
        pending_syncs: num("pending_syncs")?,
        quorum_size: num("quorum_size")?,
        learners: num("learners")?,
        server_state,
        raw,
    })
}

/// Parses a `conf` reply: the `server.N=` lines and `version=` (the membership part); the
/// other keys of the static config are ignored.
pub fn parse_conf(text: &str) -> Result<EnsembleConfig, String> {
    if text.contains(NOT_SERVING) {
        return Err(NOT_SERVING.to_string());
    }
    let membership: String = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server.") || l.starts_with("version="))
        .flat_map(|l| [l, "\n"])
        .collect();
    if membership.is_empty() {
        return Err(format!("no server lines in {:?}", first_line(text)));
    }
    parse_config(&membership)
}

/// Parses the `/zookeeper/config` format: `server.<id>=<host>:<quorum>:<election>[:<role>][;<client>]`
/// lines and `version=<hex>`. The client part may be `<host>:<port>` (including
/// `0.0.0.0:2181`) or a bare port. A missing role means participant; a missing version is 0.
pub fn parse_config(text: &str) -> Result<EnsembleConfig, String> {
    let mut config = EnsembleConfig::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("version=") {
            config.version = parse_hex(v).ok_or_else(|| format!("bad version in {line:?}"))?;
        } else if line.starts_with("server.") {
            let spec = parse_server_line(line)?;
            if config.members.insert(spec.id, spec).is_some() {
                return Err(format!("duplicate server id in {line:?}"));
            }
        } else {
            return Err(format!("unexpected line {line:?}"));
        }
    }
    Ok(config)
}

/// Parses one `server.<id>=...` line.
pub fn parse_server_line(line: &str) -> Result<ServerSpec, String> {
    let bad = |why: &str| format!("bad server line {line:?}: {why}");
    let (key, value) = line.trim().split_once('=').ok_or_else(|| bad("no `=`"))?;
    let id = key
        .strip_prefix("server.")
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| bad("key is not server.<id>"))?;
    let (quorum, client) = match value.split_once(';') {
        Some((q, c)) => (q, Some(c)),
        None => (value, None),
    };
    if let Some(client) = client {
        let port = client.rsplit(':').next().unwrap_or(client);
        if port.parse::<u16>().is_err() {
            return Err(bad("bad client port"));
        }
    }
    let mut parts: Vec<&str> = quorum.split(':').collect();
    let role = match parts.last().copied() {
        Some("participant") => Some(Role::Participant),
        Some("observer") => Some(Role::Observer),
        _ => None,
    };
    if role.is_some() {
        parts.pop();
    }
    if parts.len() < 3 {
        return Err(bad(
            "expected <host>:<quorum port>:<election port>[:<role>]",
        ));
    }
    let ports = parts.split_off(parts.len() - 2);
    let host = parts.join(":");
    if ports.iter().any(|p| p.parse::<u16>().is_err()) {
        return Err(bad("bad quorum or election port"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    Ok(ServerSpec {
        id,
        host: host.to_string(),
        role: role.unwrap_or(Role::Participant),
    })
}

fn parse_hex(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    u64::from_str_radix(t, 16).ok()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRVR_LEADER: &str =
        "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
Latency min/avg/max: 0/0.0/0\n\
Received: 4\n\
Sent: 3\n\
Connections: 1\n\
Outstanding: 0\n\
Zxid: 0x100000000\n\
Mode: leader\n\
Node count: 5\n\
Proposal sizes last/min/max: -1/-1/-1\n";

    const MNTR_LEADER: &str =
        "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
zk_server_state\tleader\n\
zk_peer_state\tleading - broadcast\n\
zk_synced_followers\t2\n\
zk_synced_non_voting_followers\t0\n\
zk_synced_observers\t0\n\
zk_learners\t2\n\
zk_quorum_size\t3\n\
zk_pending_syncs\t0\n";

    const CONF: &str = "clientPort=2181\n\
secureClientPort=-1\n\
dataDir=/tmp/zk1/data/version-2\n\
serverCnxnFactory=org.apache.zookeeper.server.NIOServerCnxnFactory\n\
membership: \n\
server.1=127.0.0.11:2888:3888:participant;127.0.0.11:2181\n\
server.2=127.0.0.12:2888:3888:participant;127.0.0.12:2181\n\
server.3=127.0.0.13:2888:3888:participant;127.0.0.13:2181\n\
version=100000000";

    #[test]
    fn srvr_of_a_leader_gives_version_mode_and_zxid() {
        let s = parse_srvr(SRVR_LEADER).unwrap();
        assert_eq!(s.version, "3.8.0");
        assert_eq!(s.mode, Mode::Leader);
        assert_eq!(s.zxid, 0x1_0000_0000);
    }

    #[test]
    fn srvr_of_a_follower_says_follower() {
        let text = SRVR_LEADER
            .replace("Mode: leader", "Mode: follower")
            .replace("0x100000000", "0x200000007");
        let s = parse_srvr(&text).unwrap();
        assert_eq!(s.mode, Mode::Follower);
        assert_eq!(s.zxid, 0x2_0000_0007);
    }

    #[test]
    fn srvr_without_a_mode_or_with_an_unknown_one_is_an_error() {
        assert!(parse_srvr(&SRVR_LEADER.replace("Mode: leader\n", "")).is_err());
        assert!(parse_srvr(&SRVR_LEADER.replace("Mode: leader", "Mode: boss")).is_err());
        assert!(parse_srvr("srvr is not executed because it is not in the whitelist.\n").is_err());
    }

    #[test]
    fn not_serving_is_recognised_by_every_parser_and_becomes_not_serving() {
        let text = "This ZooKeeper instance is not currently serving requests\n";
        assert!(parse_srvr(text).is_err());
        assert!(parse_mntr(text).is_err());
        assert!(matches!(
            check_serving("127.0.0.11", text),
            Err(ZkError::NotServing { addr }) if addr == "127.0.0.11:2181"
        ));
        assert!(check_serving("127.0.0.11", SRVR_LEADER).is_ok());
    }

    #[test]
    fn mntr_of_a_leader_gives_the_sync_counts() {
        let m = parse_mntr(MNTR_LEADER).unwrap();
        assert_eq!(m.server_state, "leader");
        assert_eq!(m.peer_state.as_deref(), Some("leading - broadcast"));
        assert_eq!(m.synced_followers, Some(2));
        assert_eq!(m.synced_non_voting_followers, Some(0));
        assert_eq!(m.synced_observers, Some(0));
        assert_eq!(m.learners, Some(2));
        assert_eq!(m.quorum_size, Some(3));
        assert_eq!(m.pending_syncs, Some(0));
        assert_eq!(
            m.raw.get("version").map(|v| v.starts_with("3.8.0-")),
            Some(true)
        );
    }

    #[test]
    fn mntr_of_a_follower_lacks_the_leader_only_counts() {
        let m = parse_mntr("zk_server_state\tfollower\nzk_peer_state\tfollowing - broadcast\n")
            .unwrap();
        assert_eq!(m.server_state, "follower");
        assert_eq!(m.peer_state.as_deref(), Some("following - broadcast"));
        assert_eq!(m.synced_followers, None);
        assert_eq!(m.quorum_size, None);
        assert!(parse_mntr("zk_synced_followers\tmany\nzk_server_state\tleader\n").is_err());
    }

    #[test]
    fn conf_without_a_trailing_newline_gives_members_and_version() {
        let c = parse_conf(CONF).unwrap();
        assert_eq!(c.version, 0x1_0000_0000);
        assert_eq!(c.voters(), vec![1, 2, 3]);
        assert_eq!(c.members[&2].host, "127.0.0.12");
        assert_eq!(
            c.members[&3].line(),
            "server.3=127.0.0.13:2888:3888:participant;127.0.0.13:2181"
        );
        assert!(parse_conf("clientPort=2181\n").is_err());
    }

    #[test]
    fn config_accepts_observers_wildcard_client_parts_and_missing_roles() {
        let c = parse_config(
            "server.1=127.0.0.11:2888:3888:participant;0.0.0.0:2181\n\
             server.4=127.0.0.14:2888:3888:observer;127.0.0.14:2181\n\
             server.5=127.0.0.15:2888:3888;2181\n\
             version=200000005\n",
        )
        .unwrap();
        assert_eq!(c.version, 0x2_0000_0005);
        assert_eq!(c.members[&1].host, "127.0.0.11");
        assert_eq!(c.members[&4].role, Role::Observer);
        assert_eq!(c.members[&5].role, Role::Participant);
        assert_eq!(c.members[&5].host, "127.0.0.15");
        assert_eq!(c.voters(), vec![1, 5]);
    }

    #[test]
    fn config_rejects_malformed_lines() {
        for bad in [
            "server.x=127.0.0.1:2888:3888:participant;127.0.0.1:2181",
            "server.1=127.0.0.1:2888:participant;127.0.0.1:2181",
            "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:port",
            "server.1=:2888:3888:participant",
            "clientPort=2181",
            "version=xyz",
            "server.1=a:1:2\nserver.1=b:1:2",
        ] {
            assert!(parse_config(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_config("").unwrap(), EnsembleConfig::default());
    }

    #[test]
    fn a_server_spec_line_round_trips_through_the_parser() {
        let spec = ServerSpec {
            id: 7,
            host: "127.0.0.17".into(),
            role: Role::Observer,
        };
        assert_eq!(parse_server_line(&spec.line()).unwrap(), spec);
    }

    #[test]
    fn command_reads_the_whole_reply_until_the_server_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut word = [0u8; 4];
            s.read_exact(&mut word).unwrap();
            assert_eq!(&word, b"srvr");
            for chunk in SRVR_LEADER.as_bytes().chunks(7) {
                s.write_all(chunk).unwrap();
            }
        });
        let reply = command(&addr, "srvr", Duration::from_secs(2)).unwrap();
        server.join().unwrap();
        assert_eq!(reply, SRVR_LEADER);
    }

    #[test]
    fn command_times_out_on_a_server_that_never_answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let started = Instant::now();
        let err = command(&addr, "srvr", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ZkError::Connect { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn command_refuses_words_that_are_not_four_letters() {
        assert!(matches!(
            command("127.0.0.1", "stat\n", DEFAULT_TIMEOUT),
            Err(ZkError::Parse { .. })
        ));
    }

    #[test]
    fn host_names_are_refused_without_a_lookup_and_ip_literals_get_the_client_port() {
        let err = command("zookeeper-0.example", "srvr", DEFAULT_TIMEOUT).unwrap_err();
        let text = crate::report::chain(&err);
        assert!(text.contains("not an IP address"), "{text}");
        assert_eq!(
            resolve("127.0.0.11").unwrap(),
            "127.0.0.11:2181".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:2182").unwrap(),
            "[::1]:2182".parse().unwrap()
        );
        assert!(resolve("localhost").is_err());
    }
}

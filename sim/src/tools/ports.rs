//! Ports: `open-port` and `close-port` (buffered until the hook exits 0), `opened-ports`.

use serde_json::json;

use super::args::{self, boolean, value};
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};

/// `2181`, `2181/tcp`, `1000-2000/udp`, `icmp` -> canonical `2181/tcp` etc.
fn parse_port(spec: &str) -> Result<String, ToolFail> {
    let bad = || ToolFail::usage(format!("invalid port or range {spec:?}"));
    if spec == "icmp" {
        return Ok("icmp".to_string());
    }
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    // Juju's port-range validation, with its texts.
    if proto == "icmp" {
        return Err(ToolFail::usage(format!(
            "protocol \"icmp\" doesn't support any ports; got {:?}",
            range.split('-').next().unwrap_or(range)
        )));
    }
    if proto != "tcp" && proto != "udp" {
        return Err(ToolFail::usage(format!(
            "invalid protocol {proto:?}, expected \"tcp\", \"udp\", or \"icmp\""
        )));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(bad());
            }
            Ok(if a == b {
                format!("{a}/{proto}")
            } else {
                format!("{a}-{b}/{proto}")
            })
        }
        None => Ok(format!("{}/{proto}", port(range)?)),
    }
}

fn port_sort_key(p: &str) -> (u32, String) {
    let first = p
        .split(['-', '/'])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (first, p.to_string())
}

impl Tool<'_> {
    pub(super) fn port(&mut self, argv: &[String], open: bool) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[value(&["endpoints"]), FORMAT])?;
        let Some(spec) = a.positional.first() else {
            return Err(ToolFail::usage("no port or range specified"));
        };
        a.no_more(1)?;
        let port = parse_port(spec)?;
        self.ctx_mut().pending.ports.push((open, port));
        Ok(Out::default())
    }

    pub(super) fn opened_ports(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["endpoints"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let mut ports = self.unit().ports.clone();
        if self.st().switches.opened_ports_include_pending {
            for (open, p) in &self.ctx().pending.ports {
                if *open {
                    ports.insert(p.clone());
                } else {
                    ports.remove(p);
                }
            }
        }
        let mut list: Vec<String> = ports.into_iter().collect();
        list.sort_by_key(|p| port_sort_key(p));
        if a.flag("endpoints") {
            list = list.into_iter().map(|p| format!("{p} (*)")).collect();
        }
        Ok(Out::value(f, &json!(list)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_canonicalised_and_bad_ones_refused() {
        assert_eq!(parse_port("2181").unwrap(), "2181/tcp");
        assert_eq!(parse_port("1000-2000/UDP").unwrap(), "1000-2000/udp");
        assert_eq!(parse_port("icmp").unwrap(), "icmp");
        assert_eq!(parse_port("0").unwrap_err().code, 2);
        assert_eq!(parse_port("5-4/tcp").unwrap_err().code, 2);
        let sctp = parse_port("22/sctp").unwrap_err();
        assert_eq!(sctp.code, 2);
        assert_eq!(
            sctp.message,
            r#"invalid protocol "sctp", expected "tcp", "udp", or "icmp""#
        );
        assert_eq!(parse_port("22/icmp").unwrap_err().code, 2);
    }
}

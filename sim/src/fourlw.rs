//! The ZooKeeper four-letter-word `srvr` query, for the status table's role column.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Asks `addr:port` for `srvr` and returns its `Mode:` (`leader`, `follower`, `standalone`,
/// `observer`), or None when nothing answers in time or the command is not whitelisted.
pub fn srvr_mode(addr: &str, port: u16, timeout: Duration) -> Option<String> {
    let sock: SocketAddr = format!("{addr}:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    parse_mode(&String::from_utf8_lossy(&buf))
}

fn parse_mode(reply: &str) -> Option<String> {
    reply
        .lines()
        .find_map(|l| l.strip_prefix("Mode:"))
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_mode_line_is_read_from_a_srvr_reply() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut cmd = [0u8; 4];
            c.read_exact(&mut cmd).unwrap();
            assert_eq!(&cmd, b"srvr");
            c.write_all(b"Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n")
                .unwrap();
        });
        assert_eq!(
            srvr_mode("127.0.0.1", port, Duration::from_secs(1)).as_deref(),
            Some("follower")
        );
        t.join().unwrap();
    }

    #[test]
    fn no_server_or_a_refusal_gives_no_role() {
        assert_eq!(
            parse_mode("srvr is not executed because it is not in the whitelist.\n"),
            None
        );
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(
            srvr_mode("127.0.0.1", port, Duration::from_millis(300)),
            None
        );
    }
}

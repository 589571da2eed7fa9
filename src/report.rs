//! Error text for people: an error and its causes on one line.
//!
//! Every error type of the charm keeps its cause out of its own message and returns it from
//! `source()` instead, so the chain below shows each part once.

use std::error::Error;

/// `outer: cause: root cause`.
pub fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach 127.0.0.1:2181")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_is_shown_once_after_the_error_that_wraps_it() {
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(
            chain(&err),
            "cannot reach 127.0.0.1:2181: Connection refused"
        );
    }
}

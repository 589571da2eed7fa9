//! Status collected once at the end of every hook.
//!
//! Every part of the charm adds candidate statuses to a [`StatusCollector`] while the hook
//! runs; at the end the highest priority wins (blocked > maintenance > waiting > active; the
//! first added wins a tie) and exactly one `status-set` call is made. A hook that fails sets
//! no status: Juju shows the error instead.

use std::fmt;

/// Workload status values a charm may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusKind {
    // Ordered by priority, lowest first: the highest wins when statuses are collected.
    Active,
    Waiting,
    Maintenance,
    Blocked,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Active => "active",
            StatusKind::Waiting => "waiting",
            StatusKind::Maintenance => "maintenance",
            StatusKind::Blocked => "blocked",
        }
    }
}

impl fmt::Display for StatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub message: String,
}

impl Status {
    pub fn new(kind: StatusKind, message: impl Into<String>) -> Self {
        Status {
            kind,
            message: message.into(),
        }
    }
    pub fn active(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Active, message)
    }
    pub fn waiting(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Waiting, message)
    }
    pub fn maintenance(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Maintenance, message)
    }
    pub fn blocked(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Blocked, message)
    }
}

/// Candidate statuses of one hook.
#[derive(Debug, Default, Clone)]
pub struct StatusCollector {
    candidates: Vec<Status>,
}

impl StatusCollector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a candidate.
    pub fn add(&mut self, status: Status) {
        self.candidates.push(status);
    }

    /// The candidates, in the order added.
    pub fn candidates(&self) -> &[Status] {
        &self.candidates
    }

    /// The winning status: the highest priority, the first added among equals; `active` with
    /// an empty message when nothing was added.
    pub fn resolve(&self) -> Status {
        let mut best: Option<&Status> = None;
        for s in &self.candidates {
            if best.is_none_or(|b| s.kind > b.kind) {
                best = Some(s);
            }
        }
        best.cloned()
            .unwrap_or_else(|| Status::new(StatusKind::Active, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_added_is_active_with_no_message() {
        assert_eq!(StatusCollector::new().resolve(), Status::active(""));
    }

    #[test]
    fn blocked_beats_maintenance_beats_waiting_beats_active() {
        let mut c = StatusCollector::new();
        c.add(Status::active("leader"));
        c.add(Status::waiting("w"));
        assert_eq!(c.resolve(), Status::waiting("w"));
        c.add(Status::maintenance("m"));
        assert_eq!(c.resolve(), Status::maintenance("m"));
        c.add(Status::blocked("b"));
        c.add(Status::waiting("w2"));
        assert_eq!(c.resolve(), Status::blocked("b"));
    }

    #[test]
    fn the_first_added_wins_a_tie() {
        let mut c = StatusCollector::new();
        c.add(Status::waiting("first"));
        c.add(Status::waiting("second"));
        assert_eq!(c.resolve(), Status::waiting("first"));
    }
}

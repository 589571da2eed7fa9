//! Pause points: a test holds a unit at a given hook-tool call to force an interleaving
//! (the leader reads the ensemble while another unit is mid-restart; two leaving units
//! reconfigure at the same moment). The held call blocks in the tool, without the model
//! lock, so the rest of the model (a parallel `settle`, another handle) goes on.

use std::time::{Duration, Instant};

use super::Model;
use crate::state::{PausePoint, PauseState};
use crate::tools::ToolName;
use crate::SimError;

impl Model {
    /// Holds `unit` at its `nth` call (from 1, counting from now) of hook tool `tool`, before
    /// the call runs, until [`Model::release`]. Returns the pause point's id.
    pub fn pause_at(&mut self, unit: &str, tool: &str, nth: u32) -> Result<u64, SimError> {
        self.add_pause(unit, tool, nth, None)
    }

    /// As [`Model::pause_at`], counting only calls whose arguments (joined by spaces)
    /// contain `text`: `pause_at_matching("zookeeper/1", "juju-log", 1, "plan:")`.
    pub fn pause_at_matching(
        &mut self,
        unit: &str,
        tool: &str,
        nth: u32,
        text: &str,
    ) -> Result<u64, SimError> {
        self.add_pause(unit, tool, nth, Some(text.to_string()))
    }

    fn add_pause(
        &mut self,
        unit: &str,
        tool: &str,
        nth: u32,
        text: Option<String>,
    ) -> Result<u64, SimError> {
        if ToolName::from_name(tool).is_none() {
            return Err(SimError::not_found("hook tool", tool));
        }
        if nth == 0 {
            return Err(SimError::Refused("pause points count calls from 1".into()));
        }
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::not_found("unit", unit));
        }
        g.st.next_pause += 1;
        let id = g.st.next_pause;
        g.st.pauses.push(PausePoint {
            id,
            unit: unit.to_string(),
            tool: tool.to_string(),
            nth,
            args_contain: text,
            calls: 0,
            state: PauseState::Armed,
            context: None,
        });
        g.save()?;
        Ok(id)
    }

    /// Where pause point `id` stands.
    pub fn pause_point(&self, id: u64) -> Result<PausePoint, SimError> {
        self.lock()?
            .st
            .pauses
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| SimError::not_found("pause point", id))
    }

    /// Waits (polling) until pause point `id` holds a call; false after `timeout`.
    pub fn wait_paused(&self, id: u64, timeout: Duration) -> Result<bool, SimError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pause_point(id)?.state == PauseState::Holding {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the call held at pause point `id` go on (or disarms it if no call came yet).
    pub fn release(&self, id: u64) -> Result<(), SimError> {
        let mut g = self.lock()?;
        let p =
            g.st.pauses
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or_else(|| SimError::not_found("pause point", id))?;
        p.state = PauseState::Released;
        g.save()
    }
}

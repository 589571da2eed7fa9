//! `goal-state`: the units and relations the model is heading for.

use serde_json::{json, Value};

use super::args;
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};
use crate::state::{Life, Unit};
use crate::util;

impl Tool<'_> {
    pub(super) fn goal_state(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let st = self.st();
        // The controller's unit status: `dying` for a dying unit, `error` while its agent
        // is in hook error, else the workload status.
        let entry = |u: &Unit| {
            let status = if u.life == Life::Dying {
                "dying".to_string()
            } else if u.error.is_some() {
                "error".to_string()
            } else {
                u.workload.status.clone()
            };
            json!({"status": status, "since": util::utc_string(u.workload.since)})
        };
        let app = self.app_name();
        let units: serde_json::Map<String, Value> = st
            .units
            .values()
            .filter(|u| u.app == app)
            .map(|u| (u.name.clone(), entry(u)))
            .collect();
        let mut relations = serde_json::Map::new();
        // The controller leaves peer relations out of `relations`.
        for r in st
            .relations
            .values()
            .filter(|r| r.involves(&app) && !r.peer())
        {
            let remote = r.remote_app(&app);
            let since = st.applications.get(&remote).map_or(0, |a| a.status.since);
            let m = relations
                .entry(r.endpoint_of(&app))
                .or_insert_with(|| Value::Object(serde_json::Map::new()))
                .as_object_mut()
                .expect("an object");
            m.insert(
                remote.clone(),
                json!({"status": "joined", "since": util::utc_string(since)}),
            );
            for u in st.units.values().filter(|u| u.app == remote) {
                if u.name != self.ctx().unit {
                    m.insert(u.name.clone(), entry(u));
                }
            }
        }
        Ok(Out::value(
            f,
            &json!({"units": units, "relations": relations}),
        ))
    }
}

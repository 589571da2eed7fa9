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
        let entry = |u: &Unit| {
            let status = if u.life == Life::Dying {
                "dying".to_string()
            } else {
                u.workload.status.clone()
            };
            json!({"status": status, "since": util::utc_string(u.workload.since)})
        };
        let units: serde_json::Map<String, Value> = st
            .units
            .values()
            .map(|u| (u.name.clone(), entry(u)))
            .collect();
        let mut relations = serde_json::Map::new();
        for r in st.relations.values() {
            let mut m = serde_json::Map::new();
            m.insert(
                st.app.clone(),
                json!({"status": "joined", "since": util::utc_string(st.app_status.since)}),
            );
            for u in st.units.values() {
                if u.name != self.ctx().unit {
                    m.insert(u.name.clone(), entry(u));
                }
            }
            relations.insert(r.endpoint.clone(), Value::Object(m));
        }
        Ok(Out::value(
            f,
            &json!({"units": units, "relations": relations}),
        ))
    }
}

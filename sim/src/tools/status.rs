//! What `juju status` and `juju debug-log` show: `status-set`, `status-get`, `juju-log`,
//! `application-version-set`. These apply at once, not at the hook's commit.

use serde_json::{json, Value};

use super::args::{self, boolean, value};
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};
use crate::state::StatusRecord;

impl Tool<'_> {
    pub(super) fn status_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[boolean(&["application", "service"])])?;
        let Some(status) = a.positional.first() else {
            return Err(ToolFail::usage("invalid args, require <status> [message]"));
        };
        if !["maintenance", "blocked", "waiting", "active"].contains(&status.as_str()) {
            return Err(ToolFail::usage(format!(
                "invalid status {status:?}, expected one of [maintenance blocked waiting active]"
            )));
        }
        // One message argument, as jujuc's status-set: extra ones are a usage error.
        a.no_more(2)?;
        let message = a.positional.get(1).cloned().unwrap_or_default();
        let rec = StatusRecord::new(status, &message);
        if a.flag("application") {
            if !self.is_leader() {
                return Err(ToolFail::runtime("this unit is not the leader"));
            }
            let app = self.app_name();
            self.g
                .st
                .applications
                .get_mut(&app)
                .expect("app exists")
                .status = rec;
        } else {
            let me = self.unit_name();
            let u = self.g.st.units.get_mut(&me).expect("unit exists");
            u.workload = rec;
            u.status_set = true;
        }
        self.dirty = true;
        Ok(Out::default())
    }

    pub(super) fn status_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[
                FORMAT,
                boolean(&["include-data"]),
                boolean(&["application", "service"]),
            ],
        )?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        // jujuc's shapes: the smart format without --include-data prints the bare status;
        // every other form prints a map with `status`, and `message` and `status-data`
        // only with --include-data.
        let bare = !a.flag("include-data") && matches!(f, Format::Smart);
        let detail = |r: &StatusRecord| {
            if a.flag("include-data") {
                json!({"status": r.status, "message": r.message, "status-data": {}})
            } else {
                json!({"status": r.status})
            }
        };
        if a.flag("application") {
            if !self.is_leader() {
                return Err(ToolFail::runtime(
                    "finding application status: this unit is not the leader",
                ));
            }
            if bare {
                return Ok(Out::value(
                    f,
                    &Value::String(self.app().status.status.clone()),
                ));
            }
            let name = self.app_name();
            let mut app = detail(&self.app().status);
            let units: serde_json::Map<String, Value> = self
                .st()
                .units
                .values()
                .filter(|u| u.app == name)
                .map(|u| (u.name.clone(), detail(&u.workload)))
                .collect();
            app["units"] = Value::Object(units);
            return Ok(Out::value(f, &json!({ "application-status": app })));
        }
        let w = &self.unit().workload;
        if bare {
            Ok(Out::value(f, &Value::String(w.status.clone())))
        } else {
            Ok(Out::value(f, &detail(w)))
        }
    }

    pub(super) fn juju_log(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[value(&["l", "log-level"]), boolean(&["debug"]), FORMAT],
        )?;
        if a.positional.is_empty() {
            return Err(ToolFail::usage("no message specified"));
        }
        let mut out = Out::default();
        let mut level = a.value("l").unwrap_or("INFO").to_ascii_uppercase();
        if a.flag("debug") {
            level = "DEBUG".to_string();
        }
        if !["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level.as_str()) {
            out.stderr = format!("WARNING invalid log level {level:?}; using INFO\n");
            level = "INFO".to_string();
        }
        let mut msg = a.positional.join(" ");
        if let Some(id) = self.ctx().hook.as_ref().and_then(|h| h.relation_id) {
            msg = format!("{}: {msg}", self.rel_key(id));
        }
        let module = format!("unit.{}.juju-log", self.unit_name());
        self.log(&level, &module, &msg);
        Ok(out)
    }

    pub(super) fn application_version_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let Some(v) = a.positional.first() else {
            return Err(ToolFail::usage("no version specified"));
        };
        a.no_more(1)?;
        let app = self.app_name();
        self.g
            .st
            .applications
            .get_mut(&app)
            .expect("app exists")
            .version = v.clone();
        self.dirty = true;
        Ok(Out::default())
    }
}

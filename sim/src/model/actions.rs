//! Actions: queued after Juju's checks of their params against `actions.yaml`, run by the
//! scheduler, and their results.

use serde_json::Value;

use super::records::ActionResult;
use super::Model;
use crate::state::{ActionRecord, ActionStatus};
use crate::{tools, SimError};

impl Model {
    /// Validates and queues an action (params already typed); returns its id.
    pub fn enqueue_action(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<u64, SimError> {
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::not_found("unit", unit));
        }
        let spec =
            g.st.charm
                .meta
                .actions
                .get(action)
                .ok_or_else(|| {
                    SimError::Refused(format!(
                        "invalid action {action:?}: not defined on unit {unit:?}"
                    ))
                })?
                .clone();
        let params = validate_params(&spec, params).map_err(SimError::ActionParams)?;
        let id = g.st.next_action;
        g.st.next_action += 1;
        g.st.actions.insert(
            id,
            ActionRecord {
                id,
                unit: unit.to_string(),
                name: action.to_string(),
                params,
                status: ActionStatus::Pending,
                message: String::new(),
                results: Default::default(),
                failed_by_charm: false,
                logs: Vec::new(),
                return_code: None,
                stdout: String::new(),
                stderr: String::new(),
            },
        );
        g.st.units
            .get_mut(unit)
            .expect("unit exists")
            .actions
            .push_back(id);
        g.save()?;
        Ok(id)
    }

    /// `juju run <unit> <action> k=v ...`: values are YAML-typed as `juju run` types them
    /// (`5` is an integer; use [`Model::run_action_with`] for exact types). Runs the
    /// scheduler until the action finished (other units' hooks may interleave) and returns
    /// its result. It does not settle afterwards.
    pub fn run_action(
        &mut self,
        unit: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<ActionResult, SimError> {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.run_action_with(unit, action, tools::typed_params(&pairs, false))
    }

    /// [`Model::run_action`] with typed params.
    pub fn run_action_with(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<ActionResult, SimError> {
        let id = self.enqueue_action(unit, action, params)?;
        let _runner = self.runner()?;
        loop {
            if let Some(r) = self.action_result(id)? {
                return Ok(r);
            }
            if self.step_inner()?.is_none() {
                return Err(SimError::Refused(format!("action {id} was not run")));
            }
        }
    }

    /// An action's result once it finished.
    pub fn action_result(&self, id: u64) -> Result<Option<ActionResult>, SimError> {
        let g = self.lock()?;
        let rec =
            g.st.actions
                .get(&id)
                .ok_or_else(|| SimError::not_found("action", id))?;
        let status = match rec.status {
            ActionStatus::Completed => "completed",
            ActionStatus::Failed => "failed",
            _ => return Ok(None),
        };
        Ok(Some(ActionResult {
            id,
            unit: rec.unit.clone(),
            action: rec.name.clone(),
            status: status.to_string(),
            message: rec.message.clone(),
            results: rec.results.clone(),
            return_code: rec.return_code.unwrap_or(-1),
            stdout: rec.stdout.clone(),
            stderr: rec.stderr.clone(),
            logs: rec.logs.clone(),
        }))
    }
}

fn json_type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Checks params against the action's schema (type, enum, required, additionalProperties),
/// then inserts defaults, as Juju does before queueing.
pub(super) fn validate_params(
    spec: &charm_files::ActionSpec,
    mut params: serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, String> {
    for (k, v) in &params {
        let Some(schema) = spec.params.get(k) else {
            if spec.additional_properties.unwrap_or(false) {
                continue;
            }
            return Err(format!("(root) : additional property {k:?} is not allowed"));
        };
        if let Some(ty) = schema.get("type") {
            let ok = match ty {
                Value::String(t) => json_type_ok(t, v),
                Value::Array(ts) => ts
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| json_type_ok(t, v))),
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "(root).{k} : invalid type. Expected: {ty}, given: {v}"
                ));
            }
        }
        if let Some(Value::Array(allowed)) = schema.get("enum") {
            if !allowed.contains(v) {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                return Err(format!(
                    "(root).{k} : {k} must be one of the following: {}",
                    list.join(", ")
                ));
            }
        }
    }
    for r in &spec.required {
        if !params.contains_key(r) {
            return Err(format!("(root) : {r} is required"));
        }
    }
    for (k, schema) in &spec.params {
        if let Some(d) = schema.get("default") {
            params.entry(k.clone()).or_insert_with(|| d.clone());
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm_files::ActionSpec;
    use serde_json::json;

    fn spec() -> ActionSpec {
        let params = json!({
            "username": {"type": "string", "enum": ["super", "sync"], "default": "super"},
            "password": {"type": "string"},
        });
        ActionSpec {
            params: params.as_object().unwrap().clone(),
            additional_properties: Some(false),
            ..ActionSpec::default()
        }
    }

    #[test]
    fn action_params_get_defaults_and_unknown_ones_are_refused() {
        let p = validate_params(&spec(), serde_json::Map::new()).unwrap();
        assert_eq!(p["username"], json!("super"));
        let mut bad = serde_json::Map::new();
        bad.insert("user".into(), json!("x"));
        assert!(validate_params(&spec(), bad)
            .unwrap_err()
            .contains("additional property \"user\""));
    }

    #[test]
    fn action_params_are_type_and_enum_checked() {
        let mut p = serde_json::Map::new();
        p.insert("password".into(), json!(12345));
        assert!(validate_params(&spec(), p)
            .unwrap_err()
            .contains("invalid type"));
        let mut p = serde_json::Map::new();
        p.insert("username".into(), json!("root"));
        assert!(validate_params(&spec(), p)
            .unwrap_err()
            .contains("must be one of"));
    }
}

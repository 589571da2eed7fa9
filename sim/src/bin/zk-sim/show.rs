//! What `status`, `show-unit` and `config` print.

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use zk_sim::{Model, UnitStatus};

use crate::cli::Format;

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line += cell;
            } else {
                line += &format!("{cell:<w$}  ", w = widths[i]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// `zk-sim status`.
pub fn status(m: &Model, format: Option<Format>) -> Result<()> {
    let st = m.state()?;
    let units: Vec<UnitStatus> = m.status_with_roles()?;
    let (app_status, app_message, version) = m.app_status()?;
    if format == Some(Format::Json) {
        let out = json!({
            "model": {"name": st.model_name, "uuid": st.model_uuid, "version": zk_sim::JUJU_VERSION, "seed": st.seed, "dir": m.dir()},
            "application": {"name": st.app, "status": app_status, "message": app_message, "version": version,
                            "charm-rev": st.charm.shown_revision(), "scale": units.len(), "leader": st.leader},
            "units": units,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut out = String::new();
    out += &table(&[
        vec![
            "Model".into(),
            "Version".into(),
            "Seed".into(),
            "Directory".into(),
        ],
        vec![
            st.model_name.clone(),
            zk_sim::JUJU_VERSION.into(),
            st.seed.to_string(),
            m.dir().display().to_string(),
        ],
    ]);
    out.push('\n');
    out += &table(&[
        vec![
            "App".into(),
            "Version".into(),
            "Status".into(),
            "Scale".into(),
            "Charm".into(),
            "Rev".into(),
            "Message".into(),
        ],
        vec![
            st.app.clone(),
            version,
            app_status,
            units.len().to_string(),
            st.app.clone(),
            st.charm.shown_revision().to_string(),
            app_message,
        ],
    ]);
    out.push('\n');
    let mut rows = vec![vec![
        "Unit".to_string(),
        "Workload".into(),
        "Agent".into(),
        "Address".into(),
        "Ports".into(),
        "Role".into(),
        "Message".into(),
    ]];
    for u in &units {
        let ports: Vec<String> = st
            .units
            .get(&u.unit)
            .map(|x| x.ports.iter().cloned().collect())
            .unwrap_or_default();
        rows.push(vec![
            format!("{}{}", u.unit, if u.leader { "*" } else { "" }),
            u.workload.clone(),
            u.agent.clone(),
            u.address.clone(),
            if ports.is_empty() {
                "-".into()
            } else {
                ports.join(",")
            },
            u.role.clone().unwrap_or_else(|| "-".into()),
            u.message.clone(),
        ]);
    }
    out += &table(&rows);
    print!("{out}");
    Ok(())
}

/// `zk-sim show-unit <unit>`.
pub fn unit(m: &Model, unit: &str, format: Option<Format>) -> Result<()> {
    let st = m.state()?;
    let u = st
        .units
        .get(unit)
        .ok_or_else(|| anyhow!("unit {unit:?} not found"))?;
    let bag =
        |b: &zk_sim::Databag| Value::Object(b.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    let mut rels = Vec::new();
    for r in st.relations.values() {
        let Some(scope) = u.scope.get(&r.id) else {
            continue;
        };
        let related: serde_json::Map<String, Value> = scope
            .members
            .iter()
            .map(|mbr| {
                let data = r.units.get(mbr).map(|b| bag(&b.bag)).unwrap_or(json!({}));
                (
                    mbr.clone(),
                    json!({"in-scope": st.units.contains_key(mbr), "data": data}),
                )
            })
            .collect();
        rels.push(json!({
            "endpoint": r.endpoint,
            "related-endpoint": r.endpoint,
            "relation-id": r.id,
            "application-data": bag(&r.app_bag),
            "local-unit": {"in-scope": true, "data": r.units.get(unit).map(|b| bag(&b.bag)).unwrap_or(json!({}))},
            "related-units": related,
        }));
    }
    let out = json!({ unit: {
        "workload-version": st.app_version,
        "charm": format!("local:{}-{}", st.app, u.charm_revision),
        "leader": st.leader.as_deref() == Some(unit),
        "life": if u.life == zk_sim::state::Life::Alive { "alive" } else { "dying" },
        "public-address": u.address,
        "opened-ports": u.ports,
        "relation-info": rels,
        "unit-dir": u.dir,
    }});
    if format == Some(Format::Json) {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&out)?);
    }
    Ok(())
}

/// `zk-sim config` and `zk-sim config <key>`.
pub fn config(m: &Model, key: Option<&str>) -> Result<()> {
    let st = m.state()?;
    let effective = st.charm.meta.effective_config(&st.config, true);
    if let Some(key) = key {
        let v = effective
            .get(key)
            .ok_or_else(|| anyhow!("unknown option {key:?}"))?;
        println!(
            "{}",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        );
        return Ok(());
    }
    let mut settings = serde_json::Map::new();
    for (k, opt) in &st.charm.meta.options {
        let mut e = serde_json::Map::new();
        if let Some(d) = &opt.default {
            e.insert("default".into(), d.clone());
        }
        e.insert(
            "description".into(),
            json!(opt.description.as_deref().unwrap_or_default().trim_end()),
        );
        e.insert(
            "source".into(),
            json!(if st.config.contains_key(k) {
                "user"
            } else {
                "default"
            }),
        );
        e.insert("type".into(), serde_json::to_value(opt.kind)?);
        if let Some(v) = effective.get(k).filter(|v| !v.is_null()) {
            e.insert("value".into(), v.clone());
        }
        settings.insert(k.clone(), Value::Object(e));
    }
    let out = json!({"application": st.app, "charm": st.app, "settings": settings});
    print!("{}", serde_yaml_ng::to_string(&out)?);
    Ok(())
}

//! What `status`, `show-unit`, `show-secret`, `secrets` and `config` print.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};
use zk_sim::util::{rfc3339, status_time};
use zk_sim::{Model, SecretView, UnitStatus};

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

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A unit as `juju status --format json` shows it (subordinates added by the caller).
fn unit_json(u: &UnitStatus) -> Value {
    let mut v = json!({
        "workload-status": {"current": u.workload, "message": u.message, "since": status_time(u.since)},
        "juju-status": {"current": u.agent, "since": status_time(u.since), "version": zk_sim::JUJU_VERSION},
        "leader": u.leader,
        "machine": u.machine.to_string(),
        "public-address": u.address,
    });
    if !u.ports.is_empty() {
        v["open-ports"] = json!(u.ports);
    }
    if u.life != "alive" {
        v["life"] = json!(u.life);
    }
    if let Some(r) = &u.role {
        v["zookeeper-role"] = json!(r);
    }
    v
}

/// `zk-sim status`: like `juju status --relations` (and its `--format json` shape:
/// applications → units → workload-status/juju-status, relations per endpoint,
/// subordinates under their principal's unit).
pub fn status(m: &Model, as_json: bool) -> Result<()> {
    let st = m.state()?;
    let units: Vec<UnitStatus> = m.status_with_roles()?;
    let apps = m.applications()?;
    let relations = m.relations()?;
    if as_json {
        let mut machines = Map::new();
        for u in units.iter().filter(|u| u.principal.is_none()) {
            machines.insert(
                u.machine.to_string(),
                json!({"juju-status": {"current": "started"}, "dns-name": u.address,
                       "ip-addresses": [u.address], "base": {"name": "ubuntu", "channel": "22.04"}}),
            );
        }
        let mut applications = Map::new();
        for a in &apps {
            let mut rels: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for r in &relations {
                let Some(mine) = r.ends.iter().find(|e| e.app == a.name) else {
                    continue;
                };
                let other = r.ends.iter().find(|e| e.app != a.name).unwrap_or(mine);
                rels.entry(mine.endpoint.clone()).or_default().push(json!({
                    "related-application": other.app,
                    "interface": r.interface,
                    "scope": if r.kind == "subordinate" { "container" } else { "global" },
                }));
            }
            let mut app = json!({
                "charm": a.charm,
                "charm-origin": "local",
                "charm-name": a.charm,
                "charm-rev": a.charm_rev,
                "exposed": false,
                "application-status": {"current": a.status, "message": a.message, "since": status_time(a.since)},
                "relations": rels,
            });
            if !a.version.is_empty() {
                app["version"] = json!(a.version);
            }
            if a.subordinate {
                app["subordinate-to"] = json!(a.subordinate_to);
            } else {
                let mut us = Map::new();
                for u in units.iter().filter(|u| u.app == a.name) {
                    let mut uj = unit_json(u);
                    let subs: Map<String, Value> = units
                        .iter()
                        .filter(|s| s.principal.as_deref() == Some(u.unit.as_str()))
                        .map(|s| {
                            let mut sj = unit_json(s);
                            if let Some(o) = sj.as_object_mut() {
                                o.remove("machine");
                            }
                            (s.unit.clone(), sj)
                        })
                        .collect();
                    if !subs.is_empty() {
                        uj["subordinates"] = Value::Object(subs);
                    }
                    us.insert(u.unit.clone(), uj);
                }
                app["units"] = Value::Object(us);
            }
            if a.stub {
                app["zk-sim-stub"] = json!(true);
            }
            applications.insert(a.name.clone(), app);
        }
        let out = json!({
            "model": {"name": st.model_name, "type": "iaas", "controller": "zk-sim", "cloud": "localhost",
                      "region": "localhost", "version": zk_sim::JUJU_VERSION,
                      "model-status": {"current": "available"}, "sla": "unsupported",
                      "uuid": st.model_uuid, "seed": st.seed, "dir": m.dir()},
            "machines": machines,
            "applications": applications,
        });
        return print_json(&out);
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
    let mut rows = vec![vec![
        "App".into(),
        "Version".into(),
        "Status".into(),
        "Scale".into(),
        "Charm".into(),
        "Rev".into(),
        "Message".into(),
    ]];
    for a in &apps {
        rows.push(vec![
            a.name.clone(),
            a.version.clone(),
            a.status.clone(),
            a.scale.to_string(),
            if a.stub {
                format!("{} (stub)", a.charm)
            } else {
                a.charm.clone()
            },
            a.charm_rev.to_string(),
            a.message.clone(),
        ]);
    }
    out += &table(&rows);
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
    let row = |u: &UnitStatus, indent: &str| {
        vec![
            format!("{indent}{}{}", u.unit, if u.leader { "*" } else { "" }),
            u.workload.clone(),
            u.agent.clone(),
            u.address.clone(),
            if u.ports.is_empty() {
                "-".into()
            } else {
                u.ports.join(",")
            },
            u.role.clone().unwrap_or_else(|| "-".into()),
            u.message.clone(),
        ]
    };
    for u in units.iter().filter(|u| u.principal.is_none()) {
        rows.push(row(u, ""));
        for s in units
            .iter()
            .filter(|s| s.principal.as_deref() == Some(u.unit.as_str()))
        {
            rows.push(row(s, "  "));
        }
    }
    out += &table(&rows);
    if !relations.is_empty() {
        out.push('\n');
        let mut rows = vec![vec![
            "Integration provider".to_string(),
            "Requirer".into(),
            "Interface".into(),
            "Type".into(),
            "Message".into(),
        ]];
        for r in &relations {
            let end = |role: &str| {
                r.end(role)
                    .or_else(|| r.end("peer"))
                    .map(|e| format!("{}:{}", e.app, e.endpoint))
                    .unwrap_or_default()
            };
            rows.push(vec![
                end("provider"),
                end("requirer"),
                r.interface.clone(),
                r.kind.clone(),
                if r.life == "alive" {
                    String::new()
                } else {
                    "dying".into()
                },
            ]);
        }
        out += &table(&rows);
    }
    print!("{out}");
    Ok(())
}

/// `zk-sim show-unit <unit>`: its relations, its own bag, the related units' bags and the
/// other application's bag, as `juju show-unit` shows them.
pub fn unit(m: &Model, unit: &str, as_json: bool) -> Result<()> {
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
        let remote = r.remote_app(&u.app);
        let related: Map<String, Value> = scope
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
            "endpoint": r.endpoint_of(&u.app),
            "related-endpoint": r.endpoint_of(&remote),
            "relation-id": r.id,
            "application-data": bag(&r.app_bag(&remote)),
            "local-unit": {"in-scope": true, "data": r.units.get(unit).map(|b| bag(&b.bag)).unwrap_or(json!({}))},
            "related-units": related,
        }));
    }
    let app = &st.applications[&u.app];
    let mut doc = json!({
        "workload-version": app.version,
        "charm": format!("local:{}-{}", app.charm.meta.name, u.charm_revision),
        "leader": app.leader.as_deref() == Some(unit),
        "life": if u.life == zk_sim::state::Life::Alive { "alive" } else { "dying" },
        "machine": u.machine.to_string(),
        "public-address": u.address,
        "opened-ports": u.ports,
        "relation-info": rels,
        "unit-dir": u.dir,
    });
    if let Some(p) = &u.principal {
        doc["principal"] = json!(p);
    }
    let out = json!({ unit: doc });
    if as_json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&out)?);
    }
    Ok(())
}

fn secret_json(s: &SecretView) -> Value {
    let mut v = json!({
        "revision": s.revision,
        "owner": s.owner,
        "created": rfc3339(s.created),
        "updated": rfc3339(s.updated),
    });
    if let Some(l) = &s.label {
        v["label"] = json!(l);
    }
    if let Some(d) = &s.description {
        v["description"] = json!(d);
    }
    if let Some(r) = &s.rotation {
        v["rotation"] = json!(r);
    }
    if let Some(e) = &s.expiry {
        v["expiry"] = json!(e);
    }
    if !s.grants.is_empty() {
        v["access"] = json!(s
            .grants
            .iter()
            .map(|(t, k)| json!({"target": t, "scope": k, "role": "view"}))
            .collect::<Vec<_>>());
    }
    if !s.consumers.is_empty() {
        v["consumers"] = json!(s
            .consumers
            .iter()
            .map(|(u, (l, r))| (u.clone(), json!({"label": l, "revision": r})))
            .collect::<Map<String, Value>>());
    }
    if let Some(c) = &s.content {
        v["content"] = json!(c);
    }
    v
}

/// `zk-sim show-secret <uri|id|label> [--reveal]`, like `juju show-secret`.
pub fn secret(m: &Model, reference: &str, reveal: bool, as_json: bool) -> Result<()> {
    let s = m.show_secret(reference, reveal)?;
    let out = json!({ s.id.clone(): secret_json(&s) });
    if as_json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&out)?);
    }
    Ok(())
}

/// `zk-sim secrets`, like `juju secrets`.
pub fn secrets(m: &Model, as_json: bool) -> Result<()> {
    let all = m.secrets()?;
    if as_json {
        let out: Map<String, Value> = all.iter().map(|s| (s.id.clone(), secret_json(s))).collect();
        println!("{}", serde_json::to_string(&Value::Object(out))?);
        return Ok(());
    }
    let mut rows = vec![vec![
        "ID".to_string(),
        "Name".into(),
        "Owner".into(),
        "Rotation".into(),
        "Revision".into(),
        "Last updated".into(),
    ]];
    for s in &all {
        rows.push(vec![
            s.id.clone(),
            s.label.clone().unwrap_or_else(|| "-".into()),
            s.owner.clone(),
            s.rotation.clone().unwrap_or_else(|| "never".into()),
            s.revision.to_string(),
            rfc3339(s.updated),
        ]);
    }
    print!("{}", table(&rows));
    Ok(())
}

/// `zk-sim config [app]` and `zk-sim config [app] <key>`.
pub fn config(m: &Model, app: &str, key: Option<&str>, as_json: bool) -> Result<()> {
    let st = m.state()?;
    let a = st
        .applications
        .get(app)
        .ok_or_else(|| anyhow!("application {app:?} not found"))?;
    let effective = a.charm.meta.effective_config(&a.config, true);
    if let Some(key) = key {
        let v = effective
            .get(key)
            .ok_or_else(|| anyhow!("unknown option {key:?}"))?;
        if as_json {
            println!("{}", serde_json::to_string(v)?);
        } else {
            println!(
                "{}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            );
        }
        return Ok(());
    }
    let mut settings = Map::new();
    for (k, opt) in &a.charm.meta.options {
        let mut e = Map::new();
        if let Some(d) = &opt.default {
            e.insert("default".into(), d.clone());
        }
        e.insert(
            "description".into(),
            json!(opt.description.as_deref().unwrap_or_default().trim_end()),
        );
        e.insert(
            "source".into(),
            json!(if a.config.contains_key(k) {
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
    let out = json!({"application": app, "charm": a.charm.meta.name, "settings": settings});
    if as_json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&out)?);
    }
    Ok(())
}

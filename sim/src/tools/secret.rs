//! Juju secrets: `secret-add`, `secret-set`, `secret-remove`, `secret-grant`,
//! `secret-revoke` (buffered until the hook exits 0), `secret-get`, `secret-ids`,
//! `secret-info-get`. Flags, outputs and error texts follow jujuc's `secret-*.go`; the
//! rules of who may read what are in [`crate::secrets`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::args::{self, boolean, value, Args, Flag};
use super::format::{go_json, render, Format};
use super::{Out, Tool, ToolFail, FORMAT, RELATION};
use crate::secrets::{
    self, base64_decode, base64_encode, manages, parse_uri, Consumer, Grant, PendingCreate,
    PendingUpdate, SecretOwner, Subject, ROTATE_POLICIES,
};
use crate::state::Databag;
use crate::util;

const UPSERT_FLAGS: [Flag; 6] = [
    value(&["expire"]),
    value(&["rotate"]),
    value(&["description"]),
    value(&["label"]),
    value(&["file"]),
    value(&["owner"]),
];

/// What the unit may manage of one secret, with this hook's pending changes applied: the
/// metadata `secret-info-get` and `secret-ids` show.
#[derive(Debug, Clone)]
struct Meta {
    owner: SecretOwner,
    label: Option<String>,
    description: Option<String>,
    expire: Option<String>,
    rotate: Option<String>,
    revision: u32,
    grants: Vec<Grant>,
}

/// Go's `time.ParseDuration` for what `--expire` takes: `24h`, `1h30m`, `90s`, `1.5h`.
fn parse_duration_secs(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// `2025-01-01T06:06:06Z`, `2025-01-01T06:06:06+02:00` or `2025-01-01T06:06:06`.
fn looks_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// `--expire`: a time (stored as given, `Z` added when it has no zone) or a positive
/// duration from now.
fn parse_expire(spec: &str) -> Result<String, ToolFail> {
    if looks_rfc3339(spec) {
        return Ok(if spec.len() == 19 {
            format!("{spec}Z")
        } else {
            spec.to_string()
        });
    }
    match parse_duration_secs(spec) {
        Some(d) if d > 0.0 => Ok(util::rfc3339(util::now_secs() + d as u64)),
        Some(_) => Err(ToolFail::usage(format!(
            "negative expire duration {spec:?} not valid"
        ))),
        None => Err(ToolFail::usage(format!(
            "expire time or duration {spec:?} not valid"
        ))),
    }
}

/// A relation tag's id: `relation-kafka.zookeeper#zookeeper.zookeeper`.
fn relation_tag(key: &str) -> String {
    format!("relation-{}", key.replace(':', ".").replace(' ', "#"))
}

/// A JSON string as Go's encoder writes it.
fn js(s: &str) -> String {
    go_json(&Value::String(s.to_string()))
}

/// A YAML scalar as yaml.v2 would write it (plain when safe, else quoted).
fn ys(s: &str) -> String {
    serde_yaml_ng::to_string(&Value::String(s.to_string()))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

impl Tool<'_> {
    fn owner_arg(&self, a: &Args) -> Result<SecretOwner, ToolFail> {
        match a.value("owner").unwrap_or("application") {
            "application" => Ok(SecretOwner::Application(self.app_name())),
            "unit" => Ok(SecretOwner::Unit(self.unit_name())),
            other => Err(ToolFail::usage(format!("secret owner {other:?} not valid"))),
        }
    }

    /// Reads a file argument (`key#file=`, `--file`) relative to the hook's cwd.
    fn read_path(&self, path: &str) -> Result<Vec<u8>, ToolFail> {
        std::fs::read(path).map_err(|e| ToolFail::usage(format!("open {path}: {e}")))
    }

    /// The content arguments of `secret-add`/`secret-set`: `key=value`, `key#base64=...`,
    /// `key#file=<path>`, and the YAML/JSON map of `--file`. Values are decoded text.
    fn content_args(&mut self, a: &Args, skip: usize) -> Result<Databag, ToolFail> {
        let mut raw: Vec<(String, String)> = Vec::new();
        for arg in &a.positional[skip..] {
            // Juju trims base64 padding before looking for the `=`.
            let stripped = arg.trim_end_matches('=');
            let idx = stripped
                .find('=')
                .filter(|i| *i >= 1)
                .ok_or_else(|| ToolFail::usage(format!("key value {arg:?} not valid")))?;
            raw.push((arg[..idx].to_string(), arg[idx + 1..].to_string()));
        }
        if let Some(path) = a.value("file") {
            let text = String::from_utf8_lossy(&self.read_path(path)?).into_owned();
            let map: BTreeMap<String, serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text)
                .map_err(|e| ToolFail::usage(format!("cannot parse {path}: {e}")))?;
            for (k, v) in map {
                let v = match v {
                    serde_yaml_ng::Value::String(s) => s,
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim_end()
                        .to_string(),
                };
                raw.push((k, v));
            }
        }
        let mut out = Databag::new();
        for (k, v) in raw {
            let (key, value) = if let Some(key) = k.strip_suffix("#base64") {
                let bytes = base64_decode(&v)
                    .ok_or_else(|| ToolFail::usage(format!("base64 value of {key:?} not valid")))?;
                (
                    key.to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            } else if let Some(key) = k.strip_suffix("#file") {
                let bytes = self.read_path(&v)?;
                (
                    key.to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            } else {
                (k.clone(), v)
            };
            if !secrets::valid_key(&key) {
                return Err(ToolFail::usage(format!("key {key:?} not valid")));
            }
            out.insert(key, value);
        }
        Ok(out)
    }

    /// `--expire`, `--rotate`, `--description`, `--label` as a pending update.
    fn upsert_meta(&self, a: &Args) -> Result<PendingUpdate, ToolFail> {
        if let Some(r) = a.value("rotate") {
            if !ROTATE_POLICIES.contains(&r) {
                return Err(ToolFail::usage(format!("rotate policy {r:?} not valid")));
            }
        }
        Ok(PendingUpdate {
            label: a
                .value("label")
                .filter(|l| !l.is_empty())
                .map(str::to_string),
            description: a
                .value("description")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            expire: a
                .value("expire")
                .filter(|e| !e.is_empty())
                .map(parse_expire)
                .transpose()?,
            rotate: a
                .value("rotate")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            content: None,
        })
    }

    /// The secrets this unit manages (its own, and its application's when it leads), with
    /// this hook's pending changes applied.
    fn managed(&self) -> BTreeMap<String, Meta> {
        let (unit, app, leader) = (self.unit_name(), self.app_name(), self.is_leader());
        let p = &self.ctx().pending.secrets;
        let mut out = BTreeMap::new();
        for (id, c) in &p.creates {
            out.insert(
                id.clone(),
                Meta {
                    owner: c.owner.clone(),
                    label: c.label.clone(),
                    description: c.description.clone(),
                    expire: c.expire.clone(),
                    rotate: c.rotate.clone(),
                    revision: 1,
                    grants: Vec::new(),
                },
            );
        }
        for s in self.st().secrets.values() {
            if !manages(&s.owner, &unit, &app, leader) {
                continue;
            }
            if matches!(p.removes.get(&s.id), Some(secrets::Removal::All)) {
                continue;
            }
            out.insert(
                s.id.clone(),
                Meta {
                    owner: s.owner.clone(),
                    label: s.label.clone(),
                    description: s.description.clone(),
                    expire: s.expire.clone(),
                    rotate: s.rotate.clone(),
                    revision: s.latest,
                    grants: s.grants.clone(),
                },
            );
        }
        for (id, m) in out.iter_mut() {
            if let Some(u) = p.updates.get(id) {
                if u.label.is_some() {
                    m.label = u.label.clone();
                }
                if u.description.is_some() {
                    m.description = u.description.clone();
                }
                if u.expire.is_some() {
                    m.expire = u.expire.clone();
                }
                if u.rotate.is_some() {
                    m.rotate = u.rotate.clone();
                }
            }
            for g in p.grants.get(id).into_iter().flatten() {
                if !m.grants.contains(g) {
                    m.grants.push(g.clone());
                }
            }
            if let Some(revoked) = p.revokes.get(id) {
                m.grants.retain(|g| !revoked.contains(&g.subject));
            }
        }
        out
    }

    /// The id in a URI argument, or Juju's usage error.
    fn uri_arg(&self, arg: Option<&String>) -> Result<String, ToolFail> {
        let Some(arg) = arg else {
            return Err(ToolFail::usage("missing secret URI"));
        };
        parse_uri(arg).ok_or_else(|| ToolFail::usage(format!("secret URI {arg:?} not valid")))
    }

    /// A secret this unit manages, or the error Juju gives: not found, or not the leader for
    /// an application secret it could manage as leader.
    fn managed_one(&self, id: &str) -> Result<Meta, ToolFail> {
        if let Some(m) = self.managed().remove(id) {
            return Ok(m);
        }
        match self.st().secrets.get(id) {
            Some(s) if matches!(&s.owner, SecretOwner::Application(a) if *a == self.app_name()) => {
                Err(ToolFail::runtime("this unit is not the leader"))
            }
            Some(_) => Err(ToolFail::runtime("permission denied")),
            None => Err(ToolFail::runtime(format!("secret {id:?} not found"))),
        }
    }

    /// An owner label must be unique among the secrets of the same owner.
    fn check_label_free(
        &self,
        owner: &SecretOwner,
        label: &str,
        except: Option<&str>,
    ) -> Result<(), ToolFail> {
        let taken = self.managed().iter().any(|(id, m)| {
            m.owner == *owner && m.label.as_deref() == Some(label) && Some(id.as_str()) != except
        }) || self.st().secrets.values().any(|s| {
            s.owner == *owner && s.label.as_deref() == Some(label) && Some(s.id.as_str()) != except
        });
        if taken {
            return Err(ToolFail::runtime(format!(
                "secret with label {label:?} already exists"
            )));
        }
        Ok(())
    }

    pub(super) fn secret_add(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &UPSERT_FLAGS)?;
        if a.positional.is_empty() && a.value("file").is_none() {
            return Err(ToolFail::usage("missing secret value or filename"));
        }
        let meta = self.upsert_meta(&a)?;
        let owner = self.owner_arg(&a)?;
        let content = self.content_args(&a, 0)?;
        if content.is_empty() {
            return Err(ToolFail::runtime("empty secret value not valid"));
        }
        if matches!(owner, SecretOwner::Application(_)) && !self.is_leader() {
            return Err(ToolFail::runtime("this unit is not the leader"));
        }
        if let Some(l) = &meta.label {
            self.check_label_free(&owner, l, None)?;
        }
        let st = &mut self.g.st;
        st.next_secret += 1;
        let id = secrets::new_id(st.seed, st.next_secret);
        let uri = secrets::uri(&st.model_uuid, &id);
        self.ctx_mut().pending.secrets.creates.insert(
            id,
            PendingCreate {
                owner,
                label: meta.label,
                description: meta.description,
                expire: meta.expire,
                rotate: meta.rotate,
                content,
            },
        );
        Ok(Out {
            stdout: format!("{uri}\n"),
            stderr: String::new(),
        })
    }

    pub(super) fn secret_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &UPSERT_FLAGS)?;
        let id = self.uri_arg(a.positional.first())?;
        let mut update = self.upsert_meta(&a)?;
        let content = self.content_args(&a, 1)?;
        if let Some(o) = a.value("owner") {
            if o != "application" && o != "unit" {
                return Err(ToolFail::usage(format!("secret owner {o:?} not valid")));
            }
        }
        let m = self.managed_one(&id)?;
        if !content.is_empty() {
            update.content = Some(content);
        }
        if update.is_empty() {
            return Err(ToolFail::runtime(
                "at least one attribute to update must be specified",
            ));
        }
        if let Some(l) = &update.label {
            self.check_label_free(&m.owner, l, Some(&id))?;
        }
        let p = &mut self.ctx_mut().pending.secrets;
        if let Some(c) = p.creates.get_mut(&id) {
            if let Some(l) = update.label {
                c.label = Some(l);
            }
            if let Some(d) = update.description {
                c.description = Some(d);
            }
            if let Some(e) = update.expire {
                c.expire = Some(e);
            }
            if let Some(r) = update.rotate {
                c.rotate = Some(r);
            }
            if let Some(content) = update.content {
                c.content = content;
            }
        } else {
            p.updates.entry(id).or_default().merge(update);
        }
        Ok(Out::default())
    }

    pub(super) fn secret_remove(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[value(&["revision"])])?;
        let id = self.uri_arg(a.positional.first())?;
        a.no_more(1)?;
        let revision = match a.value("revision") {
            None => None,
            Some(r) => match r.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as u32),
                Ok(_) => None,
                Err(_) => {
                    return Err(ToolFail::usage(format!(
                        "invalid value {r:?} for option --revision: parse error"
                    )))
                }
            },
        };
        self.managed_one(&id)?;
        self.ctx_mut().pending.secrets.remove(&id, revision);
        Ok(Out::default())
    }

    pub(super) fn secret_grant(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[RELATION, value(&["unit"])])?;
        let id = self.uri_arg(a.positional.first())?;
        let rel = self.relation(a.value("r"))?;
        let remote_app = self.st().relations[&rel].remote_app(&self.app_name());
        let subject = match a.value("unit") {
            Some(u) => {
                if !super::relation::valid_unit_name(u) {
                    return Err(ToolFail::usage(format!("unit {u:?} not valid")));
                }
                if u.split('/').next() != Some(remote_app.as_str()) {
                    return Err(ToolFail::usage(format!(
                        "cannot specify unit {u:?} in relation to application {remote_app:?}"
                    )));
                }
                Subject::Unit(u.to_string())
            }
            None => Subject::Application(remote_app.clone()),
        };
        a.no_more(1)?;
        let m = self.managed_one(&id)?;
        for g in &m.grants {
            // Already granted, or granted to the whole application: nothing to do.
            if g.subject == subject || g.subject == Subject::Application(remote_app.clone()) {
                return Ok(Out::default());
            }
            let unit_of_app = matches!(&g.subject, Subject::Unit(u)
                if u.split('/').next() == Some(remote_app.as_str()));
            if matches!(subject, Subject::Application(_)) && unit_of_app {
                return Err(ToolFail::runtime(
                    "any unit level grants need to be revoked before granting access to the corresponding application",
                ));
            }
        }
        self.ctx_mut()
            .pending
            .secrets
            .grants
            .entry(id)
            .or_default()
            .push(Grant {
                subject,
                relation: rel,
            });
        Ok(Out::default())
    }

    pub(super) fn secret_revoke(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[RELATION, value(&["app", "application"]), value(&["unit"])],
        )?;
        let id = self.uri_arg(a.positional.first())?;
        let mut app = a.value("app").map(str::to_string);
        let unit = a.value("unit").map(str::to_string);
        if let Some(u) = &unit {
            if !super::relation::valid_unit_name(u) {
                return Err(ToolFail::usage(format!("unit {u:?} not valid")));
            }
        }
        if app.is_some() && unit.is_some() {
            return Err(ToolFail::usage("specify only one of application or unit"));
        }
        if a.value("r").is_some() {
            let rel = self.relation(a.value("r"))?;
            if app.is_some() {
                return Err(ToolFail::usage("do not specify both relation and app"));
            }
            app = Some(self.st().relations[&rel].remote_app(&self.app_name()));
        }
        let subject = match (app, unit) {
            (Some(a), _) => Subject::Application(a),
            (None, Some(u)) => Subject::Unit(u),
            (None, None) => return Err(ToolFail::usage("missing relation or application or unit")),
        };
        a.no_more(1)?;
        self.managed_one(&id)?;
        let p = &mut self.ctx_mut().pending.secrets;
        if let Some(gs) = p.grants.get_mut(&id) {
            gs.retain(|g| g.subject != subject);
        }
        let revokes = p.revokes.entry(id).or_default();
        if !revokes.contains(&subject) {
            revokes.push(subject);
        }
        Ok(Out::default())
    }

    pub(super) fn secret_ids(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let ids: Vec<String> = self.managed().into_keys().collect();
        Ok(Out::value(f, &json!(ids)))
    }

    pub(super) fn secret_info_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, value(&["label"])])?;
        let f = match a.value("format") {
            None => Format::Yaml,
            Some("smart") => {
                return Err(ToolFail::usage(
                    "invalid value \"smart\" for option --format: unknown format \"smart\"",
                ))
            }
            other => Format::parse(other)?,
        };
        let uri = match a.positional.first() {
            Some(arg) => Some(
                parse_uri(arg)
                    .ok_or_else(|| ToolFail::usage(format!("secret URI {arg:?} not valid")))?,
            ),
            None => None,
        };
        let label = a.value("label").filter(|l| !l.is_empty());
        match (&uri, label) {
            (None, None) => return Err(ToolFail::usage("require either a secret URI or label")),
            (Some(_), Some(_)) => {
                return Err(ToolFail::usage(
                    "specify either a secret URI or label but not both",
                ))
            }
            _ => {}
        }
        a.no_more(usize::from(uri.is_some()))?;
        let managed = self.managed();
        let found = match (&uri, label) {
            (Some(id), _) => managed.get_key_value(id),
            (None, Some(l)) => managed.iter().find(|(_, m)| m.label.as_deref() == Some(l)),
            (None, None) => None,
        };
        let Some((id, m)) = found else {
            let want = uri
                .clone()
                .or(label.map(str::to_string))
                .unwrap_or_default();
            return Err(ToolFail::runtime(format!("secret {want:?} not found")));
        };
        Ok(Out {
            stdout: self.info_text(f, id, m),
            stderr: String::new(),
        })
    }

    /// `secret-info-get`'s output: Juju's `metadataDisplay` fields in their order.
    fn info_text(&self, f: Format, id: &str, m: &Meta) -> String {
        let access: Vec<(String, String)> = m
            .grants
            .iter()
            .map(|g| {
                let key = self
                    .st()
                    .relations
                    .get(&g.relation)
                    .map(|r| r.key())
                    .unwrap_or_default();
                (g.subject.tag(), relation_tag(&key))
            })
            .collect();
        let rotation = m.rotate.clone().unwrap_or_else(|| "never".to_string());
        let mut fields: Vec<(&str, String, String)> = vec![
            ("revision", m.revision.to_string(), m.revision.to_string()),
            (
                "label",
                js(m.label.as_deref().unwrap_or_default()),
                ys(m.label.as_deref().unwrap_or_default()),
            ),
            ("owner", js(m.owner.kind()), ys(m.owner.kind())),
        ];
        if let Some(d) = &m.description {
            fields.push(("description", js(d), ys(d)));
        }
        fields.push(("rotation", js(&rotation), ys(&rotation)));
        if let Some(e) = &m.expire {
            fields.push(("expiry", js(e), ys(e)));
        }
        match f {
            Format::Json => {
                let mut body: Vec<String> = fields
                    .iter()
                    .map(|(k, j, _)| format!("\"{k}\":{j}"))
                    .collect();
                if !access.is_empty() {
                    let list: Vec<String> = access
                        .iter()
                        .map(|(t, s)| {
                            format!(
                                "{{\"target\":{},\"scope\":{},\"role\":\"view\"}}",
                                js(t),
                                js(s)
                            )
                        })
                        .collect();
                    body.push(format!("\"access\":[{}]", list.join(",")));
                }
                format!("{{{}:{{{}}}}}\n", js(id), body.join(","))
            }
            _ => {
                let mut out = format!("{id}:\n");
                for (k, _, y) in &fields {
                    out += &format!("  {k}: {y}\n");
                }
                if !access.is_empty() {
                    out += "  access:\n";
                    for (t, s) in &access {
                        out += &format!(
                            "  - target: {}\n    scope: {}\n    role: view\n",
                            ys(t),
                            ys(s)
                        );
                    }
                }
                out
            }
        }
    }

    pub(super) fn secret_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[
                FORMAT,
                value(&["label"]),
                boolean(&["peek"]),
                boolean(&["refresh"]),
            ],
        )?;
        let f = match a.value("format") {
            None => Format::Yaml,
            Some("smart") => {
                return Err(ToolFail::usage(
                    "invalid value \"smart\" for option --format: unknown format \"smart\"",
                ))
            }
            other => Format::parse(other)?,
        };
        let mut rest = a.positional.iter();
        let uri = match rest.next() {
            Some(arg) => Some(
                parse_uri(arg)
                    .ok_or_else(|| ToolFail::usage(format!("secret URI {arg:?} not valid")))?,
            ),
            None => None,
        };
        let label = a
            .value("label")
            .filter(|l| !l.is_empty())
            .map(str::to_string);
        if uri.is_none() && label.is_none() {
            return Err(ToolFail::usage("require either a secret URI or label"));
        }
        let (peek, refresh) = (a.flag("peek"), a.flag("refresh"));
        if peek && refresh {
            return Err(ToolFail::usage(
                "specify one of --peek or --refresh but not both",
            ));
        }
        let key = rest.next().cloned();
        a.no_more(usize::from(uri.is_some()) + usize::from(key.is_some()))?;
        let content = self.read_secret(uri, label, peek, refresh)?;
        let v = match key {
            None => Value::Object(
                content
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
            Some(k) => {
                let (name, b64) = match k.strip_suffix("#base64") {
                    Some(n) => (n.to_string(), true),
                    None => (k.clone(), false),
                };
                let v = content
                    .get(&name)
                    .ok_or_else(|| ToolFail::runtime(format!("key {name:?} not found")))?;
                Value::String(if b64 {
                    base64_encode(v.as_bytes())
                } else {
                    v.clone()
                })
            }
        };
        Ok(Out {
            stdout: render(f, &v),
            stderr: String::new(),
        })
    }

    /// `secret-get`'s resolution, as the uniter and the controller do it: this hook's
    /// created secrets first, then the secrets owned by this unit or its application (by URI
    /// or owner label, latest revision), then as a consumer (by URI or consumer label, the
    /// tracked revision; the tracking and the label are saved at once, as Juju saves them).
    fn read_secret(
        &mut self,
        uri: Option<String>,
        label: Option<String>,
        peek: bool,
        refresh: bool,
    ) -> Result<Databag, ToolFail> {
        let (unit, app) = (self.unit_name(), self.app_name());
        // 1. Created in this hook: the pending content.
        let pending_id = self
            .ctx()
            .pending
            .secrets
            .creates
            .iter()
            .find(|(id, c)| {
                uri.as_deref() == Some(id.as_str()) || (label.is_some() && c.label == label)
            })
            .map(|(id, _)| id.clone());
        if let Some(id) = pending_id {
            let c = self
                .ctx_mut()
                .pending
                .secrets
                .creates
                .get_mut(&id)
                .expect("pending");
            if uri.is_some() && label.is_some() {
                c.label = label;
            }
            return Ok(c.content.clone());
        }
        // 2. Owned by this unit or its application.
        let owned = self
            .st()
            .secrets
            .values()
            .filter(|s| s.owned_by(&unit, &app))
            .find(|s| {
                uri.as_deref() == Some(s.id.as_str())
                    || (uri.is_none() && label.is_some() && {
                        let pending_label = self
                            .ctx()
                            .pending
                            .secrets
                            .updates
                            .get(&s.id)
                            .and_then(|u| u.label.clone());
                        pending_label.or(s.label.clone()) == label
                    })
            })
            .map(|s| s.id.clone());
        if let Some(id) = owned {
            let strict = self.st().switches.strict_secret_owner_reads;
            if strict && uri.is_some() && label.is_some() {
                return Err(ToolFail::runtime(
                    "either URI or label should be used for getting an owned secret but not both",
                ));
            }
            if strict && refresh {
                return Err(ToolFail::runtime("secret owner cannot use --refresh"));
            }
            let s = &self.st().secrets[&id];
            let can_manage = manages(&s.owner, &unit, &app, self.is_leader());
            if uri.is_some() && label.is_some() && can_manage {
                // Juju 3.6: the pair sets the owner label.
                self.ctx_mut()
                    .pending
                    .secrets
                    .updates
                    .entry(id.clone())
                    .or_default()
                    .label = label;
            }
            if peek || refresh {
                if let Some(c) = self
                    .ctx()
                    .pending
                    .secrets
                    .updates
                    .get(&id)
                    .and_then(|u| u.content.clone())
                {
                    return Ok(c);
                }
            }
            return Ok(self.st().secrets[&id].latest_content());
        }
        // 3. As a consumer.
        let id = match uri {
            Some(id) => id,
            None => {
                let wanted = label.clone().unwrap_or_default();
                self.st()
                    .secrets
                    .values()
                    .find(|s| {
                        s.consumers
                            .get(&unit)
                            .is_some_and(|c| c.label.as_deref() == Some(wanted.as_str()))
                    })
                    .map(|s| s.id.clone())
                    .ok_or_else(|| {
                        ToolFail::runtime(format!("consumer label {wanted:?} not found"))
                    })?
            }
        };
        let Some(s) = self.st().secrets.get(&id) else {
            return Err(ToolFail::runtime(format!("secret {id:?} not found")));
        };
        if !s.granted_to(&unit) {
            return Err(ToolFail::runtime("permission denied"));
        }
        let latest = s.latest;
        let existing = s.consumers.get(&unit).cloned();
        let mut consumer = existing.clone().unwrap_or(Consumer {
            label: None,
            revision: latest,
        });
        if refresh {
            consumer.revision = latest;
        }
        let read = if peek { latest } else { consumer.revision };
        // Juju saves the label a consumer names the secret by (with its URI, or on refresh).
        let update_label = label.is_some();
        if update_label {
            consumer.label = label.clone();
        }
        if existing.as_ref() != Some(&consumer) {
            let st = &mut self.g.st;
            if update_label {
                // A consumer label names one secret for this unit.
                for other in st.secrets.values_mut() {
                    if other.id != id {
                        if let Some(c) = other.consumers.get_mut(&unit) {
                            if c.label == label {
                                c.label = None;
                            }
                        }
                    }
                }
            }
            st.secrets
                .get_mut(&id)
                .expect("secret exists")
                .consumers
                .insert(unit.clone(), consumer);
            st.check_obsolete(&id);
            self.dirty = true;
        }
        let s = &self.st().secrets[&id];
        s.revisions
            .get(&read)
            .map(|r| r.content.clone())
            .ok_or_else(|| ToolFail::runtime(format!("secret revision {id}/{read} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_takes_times_and_positive_go_durations() {
        assert_eq!(parse_duration_secs("24h"), Some(86400.0));
        assert_eq!(parse_duration_secs("1h30m"), Some(5400.0));
        assert_eq!(parse_duration_secs("1.5s"), Some(1.5));
        assert_eq!(parse_duration_secs("5d"), None);
        assert_eq!(
            parse_expire("2025-01-01T06:06:06").unwrap(),
            "2025-01-01T06:06:06Z"
        );
        assert_eq!(
            parse_expire("2025-01-01T06:06:06+02:00").unwrap(),
            "2025-01-01T06:06:06+02:00"
        );
        assert!(parse_expire("24h").unwrap().ends_with('Z'));
        assert_eq!(parse_expire("soon").unwrap_err().code, 2);
    }

    #[test]
    fn relation_tags_replace_colons_and_spaces() {
        assert_eq!(
            relation_tag("kafka:zookeeper zookeeper:zookeeper"),
            "relation-kafka.zookeeper#zookeeper.zookeeper"
        );
    }
}

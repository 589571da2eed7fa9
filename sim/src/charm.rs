//! What the model reads from a charm (`metadata.yaml`, `config.yaml`, `actions.yaml`), and
//! how a charm gets onto a unit: a `.charm` zip is unpacked with its unix modes and symlinks,
//! a directory is copied (symlinks inside it stay symlinks, symlinks leaving it are followed).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SimError;

/// Type of a config option (`config.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Int,
    Float,
    Boolean,
    Secret,
}

/// One config option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigOption {
    pub kind: ConfigType,
    pub default: Option<Value>,
    pub description: String,
}

/// One action from `actions.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    pub description: String,
    /// JSON-schema fragments per parameter.
    pub params: serde_json::Map<String, Value>,
    pub required: Vec<String>,
    pub additional_properties: bool,
}

/// The parts of a charm the model needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charm {
    pub name: String,
    /// Peer endpoints, in `metadata.yaml` order.
    pub peers: Vec<String>,
    pub provides: Vec<String>,
    pub requires: Vec<String>,
    pub extra_bindings: Vec<String>,
    pub options: BTreeMap<String, ConfigOption>,
    pub actions: BTreeMap<String, ActionSpec>,
}

fn charm_err(path: &Path, detail: impl Into<String>) -> SimError {
    SimError::Charm {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn read_yaml(path: &Path, required: bool) -> Result<Option<serde_yaml::Value>, SimError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| charm_err(path, format!("invalid YAML: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) => Err(SimError::io("read", path)(e)),
    }
}

/// YAML to JSON (keys become strings).
pub fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        serde_yaml::Value::String(s) => Value::String(s.clone()),
        serde_yaml::Value::Sequence(s) => Value::Array(s.iter().map(yaml_to_json).collect()),
        serde_yaml::Value::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (yaml_scalar_string(k), yaml_to_json(v)))
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// A YAML scalar as text (`true`, `5`, `abc`); `~` is the empty string.
pub fn yaml_scalar_string(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::Null => String::new(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

fn endpoint_names(meta: &serde_yaml::Value, key: &str) -> Vec<String> {
    match meta.get(key) {
        Some(serde_yaml::Value::Mapping(m)) => m.keys().map(yaml_scalar_string).collect(),
        _ => Vec::new(),
    }
}

impl Charm {
    /// Reads a charm directory. `metadata.yaml` is required, as Juju requires it.
    pub fn load(dir: &Path) -> Result<Charm, SimError> {
        let meta_path = dir.join("metadata.yaml");
        let meta = read_yaml(&meta_path, true)?.unwrap_or_default();
        let name = meta
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| charm_err(&meta_path, "no `name`"))?
            .to_string();
        let mut options = BTreeMap::new();
        let config_path = dir.join("config.yaml");
        if let Some(cfg) = read_yaml(&config_path, false)? {
            if let Some(serde_yaml::Value::Mapping(opts)) = cfg.get("options") {
                for (k, v) in opts {
                    let key = yaml_scalar_string(k);
                    let kind = match v.get("type").and_then(|t| t.as_str()) {
                        Some("string") => ConfigType::String,
                        Some("int") => ConfigType::Int,
                        Some("float") => ConfigType::Float,
                        Some("boolean") => ConfigType::Boolean,
                        Some("secret") => ConfigType::Secret,
                        other => {
                            return Err(charm_err(
                                &config_path,
                                format!("option {key:?} has type {other:?}; expected string, int, float, boolean or secret"),
                            ))
                        }
                    };
                    let default = match v.get("default") {
                        None | Some(serde_yaml::Value::Null) => None,
                        Some(d) => Some(coerce_config(kind, &yaml_to_json(d)).map_err(|e| {
                            charm_err(&config_path, format!("default of {key:?}: {e}"))
                        })?),
                    };
                    let description = v
                        .get("description")
                        .and_then(|d| d.as_str())
                        .unwrap_or_default()
                        .to_string();
                    options.insert(
                        key,
                        ConfigOption {
                            kind,
                            default,
                            description,
                        },
                    );
                }
            }
        }
        let mut actions = BTreeMap::new();
        if let Some(serde_yaml::Value::Mapping(acts)) = read_yaml(&dir.join("actions.yaml"), false)?
        {
            for (k, v) in acts {
                let name = yaml_scalar_string(&k);
                let v = yaml_to_json(&v);
                let params = v
                    .get("params")
                    .and_then(|p| p.as_object())
                    .cloned()
                    .unwrap_or_default();
                let required = v
                    .get("required")
                    .and_then(|r| r.as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let additional_properties = v
                    .get("additionalProperties")
                    .and_then(|a| a.as_bool())
                    .unwrap_or(false);
                let description = v
                    .get("description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_string();
                actions.insert(
                    name,
                    ActionSpec {
                        description,
                        params,
                        required,
                        additional_properties,
                    },
                );
            }
        }
        let extra_bindings = endpoint_names(&meta, "extra-bindings");
        Ok(Charm {
            name,
            peers: endpoint_names(&meta, "peers"),
            provides: endpoint_names(&meta, "provides"),
            requires: endpoint_names(&meta, "requires"),
            extra_bindings,
            options,
            actions,
        })
    }

    /// Every binding name `network-get` knows.
    pub fn bindings(&self) -> impl Iterator<Item = &String> {
        self.peers
            .iter()
            .chain(&self.provides)
            .chain(&self.requires)
            .chain(&self.extra_bindings)
    }

    /// Config as `config-get` shows it: set values, else non-null defaults (`all`: nulls too).
    pub fn effective_config(
        &self,
        set: &BTreeMap<String, Value>,
        all: bool,
    ) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for (k, opt) in &self.options {
            match set.get(k).cloned().or_else(|| opt.default.clone()) {
                Some(v) => {
                    out.insert(k.clone(), v);
                }
                None if all => {
                    out.insert(k.clone(), Value::Null);
                }
                None => {}
            }
        }
        out
    }
}

/// Checks or converts a value for an option type (numbers from YAML defaults, etc.).
fn coerce_config(kind: ConfigType, v: &Value) -> Result<Value, String> {
    match (kind, v) {
        (ConfigType::String | ConfigType::Secret, Value::String(_)) => Ok(v.clone()),
        (ConfigType::String | ConfigType::Secret, Value::Number(n)) => {
            Ok(Value::String(n.to_string()))
        }
        (ConfigType::String | ConfigType::Secret, Value::Bool(b)) => {
            Ok(Value::String(b.to_string()))
        }
        (ConfigType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        (ConfigType::Float, Value::Number(n)) => Ok(Value::from(n.as_f64().unwrap_or(0.0))),
        (ConfigType::Boolean, Value::Bool(_)) => Ok(v.clone()),
        _ => Err(format!("{v} is not a valid {kind:?} value").to_lowercase()),
    }
}

/// Parses a `juju config k=v` value for an option type.
pub fn parse_config_value(kind: ConfigType, key: &str, raw: &str) -> Result<Value, SimError> {
    let bad =
        |what: &str| SimError::Invalid(format!("option {key:?} expected {what}, got {raw:?}"));
    match kind {
        ConfigType::String | ConfigType::Secret => Ok(Value::String(raw.to_string())),
        ConfigType::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| bad("int")),
        ConfigType::Float => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| bad("float")),
        ConfigType::Boolean => match raw.trim() {
            "true" | "True" | "TRUE" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "False" | "FALSE" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(bad("boolean")),
        },
    }
}

/// True when `rel` (a symlink target relative to `link_parent`, itself relative to the root)
/// stays inside the root.
fn stays_inside(link_parent: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = 0;
    for c in link_parent.components().chain(target.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            _ => return false,
        }
    }
    true
}

/// Unpacks a `.charm` zip or copies a charm directory into `dest` (created).
pub fn unpack(source: &Path, dest: &Path) -> Result<(), SimError> {
    fs::create_dir_all(dest).map_err(SimError::io("create", dest))?;
    let meta = fs::metadata(source).map_err(SimError::io("read", source))?;
    if meta.is_dir() {
        copy_tree(source, dest, source)
    } else {
        unzip(source, dest)
    }
}

fn unzip(source: &Path, dest: &Path) -> Result<(), SimError> {
    let file = fs::File::open(source).map_err(SimError::io("open", source))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| charm_err(source, format!("not a zip: {e}")))?;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| charm_err(source, format!("entry {i}: {e}")))?;
        let rel = entry
            .enclosed_name()
            .ok_or_else(|| charm_err(source, format!("unsafe path {:?} in zip", entry.name())))?;
        let out = dest.join(&rel);
        let mode = entry.unix_mode();
        let is_link = mode.is_some_and(|m| m & 0o170000 == 0o120000);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(SimError::io("create", &out))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(SimError::io("create", parent))?;
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| charm_err(source, format!("reading {}: {e}", rel.display())))?;
        if is_link {
            let target = PathBuf::from(String::from_utf8_lossy(&data).into_owned());
            let parent = rel.parent().unwrap_or(Path::new(""));
            if !stays_inside(parent, &target) {
                return Err(charm_err(
                    source,
                    format!(
                        "symlink {} -> {} leaves the charm",
                        rel.display(),
                        target.display()
                    ),
                ));
            }
            let _ = fs::remove_file(&out);
            symlink(&target, &out).map_err(SimError::io("create symlink", &out))?;
        } else {
            let _ = fs::remove_file(&out);
            fs::write(&out, &data).map_err(SimError::io("write", &out))?;
            let perm = mode.map(|m| m & 0o7777).unwrap_or(0o644);
            fs::set_permissions(&out, fs::Permissions::from_mode(perm))
                .map_err(SimError::io("chmod", &out))?;
        }
    }
    Ok(())
}

/// Copies `src` into `dst` (merging, replacing files), keeping modes; symlinks that stay
/// inside `root` are recreated, others are followed and their target copied.
pub fn copy_tree(src: &Path, dst: &Path, root: &Path) -> Result<(), SimError> {
    fs::create_dir_all(dst).map_err(SimError::io("create", dst))?;
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(SimError::io("read", src))?
        .collect::<Result<_, _>>()
        .map_err(SimError::io("read", src))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type().map_err(SimError::io("stat", &from))?;
        if ft.is_symlink() {
            let target = fs::read_link(&from).map_err(SimError::io("read link", &from))?;
            let rel_parent = src.strip_prefix(root).unwrap_or(Path::new(""));
            if stays_inside(rel_parent, &target) {
                remove_any(&to)?;
                symlink(&target, &to).map_err(SimError::io("create symlink", &to))?;
                continue;
            }
            let meta = fs::metadata(&from).map_err(SimError::io("follow", &from))?;
            if meta.is_dir() {
                copy_tree(&from, &to, &from)?;
            } else {
                copy_file(&from, &to)?;
            }
        } else if ft.is_dir() {
            if fs::symlink_metadata(&to).is_ok_and(|m| !m.is_dir()) {
                remove_any(&to)?;
            }
            copy_tree(&from, &to, root)?;
        } else {
            copy_file(&from, &to)?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), SimError> {
    // Remove first: the old file may be a running binary (ETXTBSY) or a symlink.
    remove_any(to)?;
    fs::copy(from, to).map_err(SimError::io("copy", from))?;
    Ok(())
}

fn remove_any(path: &Path) -> Result<(), SimError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(SimError::io("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(SimError::io("remove", path)),
        Err(_) => Ok(()),
    }
}

/// Relative paths of every file and symlink under `dir` (not directories), sorted.
pub fn list_files(dir: &Path) -> Result<Vec<String>, SimError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), SimError> {
        for entry in fs::read_dir(dir).map_err(SimError::io("read", dir))? {
            let entry = entry.map_err(SimError::io("read", dir))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(SimError::io("stat", &path))?;
            if ft.is_dir() {
                walk(base, &path, out)?;
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Puts the charm in `store` into a unit's charm dir, first removing the files the previous
/// revision put there (files the charm created itself stay, as with Juju's deployer).
pub fn deploy_to_unit(
    store: &Path,
    charm_dir: &Path,
    old_files: &[String],
) -> Result<Vec<String>, SimError> {
    for f in old_files {
        remove_any(&charm_dir.join(f))?;
    }
    copy_tree(store, charm_dir, store)?;
    list_files(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_may_point_within_the_charm_but_not_out_of_it() {
        assert!(stays_inside(Path::new("hooks"), Path::new("../dispatch")));
        assert!(stays_inside(Path::new(""), Path::new("bin/x")));
        assert!(!stays_inside(
            Path::new("hooks"),
            Path::new("../../etc/passwd")
        ));
        assert!(!stays_inside(Path::new(""), Path::new("/usr/bin/sh")));
    }

    #[test]
    fn config_values_are_typed_by_the_option_type() {
        assert_eq!(
            parse_config_value(ConfigType::Int, "k", "5").unwrap(),
            Value::from(5)
        );
        assert!(parse_config_value(ConfigType::Int, "k", "five").is_err());
        assert_eq!(
            parse_config_value(ConfigType::Boolean, "k", "true").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            parse_config_value(ConfigType::Float, "k", "0.5").unwrap(),
            Value::from(0.5)
        );
        assert_eq!(
            parse_config_value(ConfigType::String, "k", "5").unwrap(),
            Value::from("5")
        );
    }
}

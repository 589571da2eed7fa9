//! What the model reads from a charm (`metadata.yaml`, `config.yaml`, `actions.yaml`), and
//! how a charm gets onto a unit: a `.charm` zip is unpacked with its unix modes and symlinks,
//! a directory is copied (symlinks inside it stay symlinks, symlinks leaving it are followed).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use charm_files::{
    ActionSpec, ActionsYaml, CharmFile, ConfigOption, ConfigYaml, Metadata, PackedVersion,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SimError;

/// The role of a relation endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Peer,
    Provides,
    Requires,
}

impl Role {
    /// What Juju calls the role (`peer`, `provider`, `requirer`).
    pub fn juju_name(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Provides => "provider",
            Role::Requires => "requirer",
        }
    }
}

/// One relation endpoint of a charm, as `metadata.yaml` declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    pub name: String,
    pub role: Role,
    pub interface: String,
    /// `limit:`: how many relations the endpoint may have at once (Juju 3 enforces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `scope: container`.
    #[serde(default)]
    pub container: bool,
}

/// The parts of a charm the model needs, read once when the charm is deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charm {
    pub name: String,
    /// `subordinate: true` in `metadata.yaml`.
    #[serde(default)]
    pub subordinate: bool,
    /// Peer endpoints, in `metadata.yaml` order.
    pub peers: Vec<String>,
    pub provides: Vec<String>,
    pub requires: Vec<String>,
    /// Every relation endpoint with its role, interface, limit and scope: peers, then
    /// provides, then requires, each in file order.
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
    pub extra_bindings: Vec<String>,
    /// Config options, their defaults typed (see [`ConfigYaml`]).
    pub options: BTreeMap<String, ConfigOption>,
    pub actions: BTreeMap<String, ActionSpec>,
    /// What `cargo xtask pack` wrote in the charm's `version` file, if it packed this charm.
    #[serde(default)]
    pub packed: Option<PackedVersion>,
    /// Storage, in `metadata.yaml` order.
    #[serde(default)]
    pub storage: Vec<StorageSpec>,
}

/// One storage of `metadata.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSpec {
    pub name: String,
    /// `filesystem` or `block`.
    pub kind: String,
    /// Where Juju mounts it on a machine: the charm's `location`, else
    /// `/var/lib/juju/storage/<name>/<n>`.
    pub location: Option<String>,
}

fn charm_err(path: &Path, detail: impl Into<String>) -> SimError {
    SimError::Charm {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn names<T>(entries: &charm_files::Ordered<T>) -> Vec<String> {
    entries.names().map(str::to_string).collect()
}

impl Charm {
    /// Reads a charm directory. `metadata.yaml` is required, as Juju requires it;
    /// `config.yaml` and `actions.yaml` may be missing.
    pub fn load(dir: &Path) -> Result<Charm, SimError> {
        let meta = Metadata::load(dir)?;
        let config = ConfigYaml::load_if_present(dir)?.unwrap_or_default();
        let actions = ActionsYaml::load_if_present(dir)?.unwrap_or_default();
        let mut endpoints = Vec::new();
        for (role, list) in [
            (Role::Peer, &meta.peers),
            (Role::Provides, &meta.provides),
            (Role::Requires, &meta.requires),
        ] {
            for (name, ep) in list.iter() {
                endpoints.push(EndpointSpec {
                    name: name.to_string(),
                    role,
                    interface: ep.interface.clone(),
                    limit: ep.limit,
                    container: ep.scope.as_deref() == Some("container"),
                });
            }
        }
        Ok(Charm {
            name: meta.name.clone(),
            subordinate: meta.subordinate,
            peers: names(&meta.peers),
            provides: names(&meta.provides),
            requires: names(&meta.requires),
            endpoints,
            extra_bindings: names(&meta.extra_bindings),
            options: config.options,
            actions: actions.0,
            packed: PackedVersion::load(dir),
            storage: meta
                .storage
                .iter()
                .map(|(name, st)| StorageSpec {
                    name: name.to_string(),
                    kind: st.kind.clone(),
                    location: st.location.clone(),
                })
                .collect(),
        })
    }

    /// The relation endpoint of that name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointSpec> {
        self.endpoints.iter().find(|e| e.name == name)
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

/// A built-in scripted stub: a charm of `metadata.yaml` alone, so that Juju skips every
/// hook (a missing hook counts as success); a test acts for its units instead, through
/// [`crate::Model::exec`] and the stub helpers (setting bags, reading secrets, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StubSpec {
    pub subordinate: bool,
    pub endpoints: Vec<EndpointSpec>,
}

impl StubSpec {
    pub fn new() -> Self {
        StubSpec::default()
    }

    fn with(mut self, role: Role, name: &str, interface: &str) -> Self {
        self.endpoints.push(EndpointSpec {
            name: name.to_string(),
            role,
            interface: interface.to_string(),
            limit: None,
            container: false,
        });
        self
    }

    /// A `provides` endpoint.
    pub fn provides(self, name: &str, interface: &str) -> Self {
        self.with(Role::Provides, name, interface)
    }

    /// A `requires` endpoint.
    pub fn requires(self, name: &str, interface: &str) -> Self {
        self.with(Role::Requires, name, interface)
    }

    /// A peer endpoint.
    pub fn peer(self, name: &str, interface: &str) -> Self {
        self.with(Role::Peer, name, interface)
    }

    /// A subordinate stub whose `requires` endpoint `name` is container-scoped.
    pub fn subordinate_to(mut self, name: &str, interface: &str) -> Self {
        self.subordinate = true;
        self.endpoints.push(EndpointSpec {
            name: name.to_string(),
            role: Role::Requires,
            interface: interface.to_string(),
            limit: None,
            container: true,
        });
        self
    }

    /// The last endpoint added gets `limit: n`.
    pub fn limit(mut self, n: u32) -> Self {
        if let Some(e) = self.endpoints.last_mut() {
            e.limit = Some(n);
        }
        self
    }

    /// Parses `name:interface[:limit]` (the CLI's `--provides`/`--requires`/`--peer`).
    pub fn endpoint_arg(role: Role, arg: &str) -> Result<EndpointSpec, String> {
        let mut parts = arg.split(':');
        let (Some(name), Some(interface)) = (parts.next(), parts.next()) else {
            return Err(format!("expected ENDPOINT:INTERFACE[:LIMIT], got {arg:?}"));
        };
        let limit = match parts.next() {
            None => None,
            Some(l) => Some(
                l.parse::<u32>()
                    .map_err(|_| format!("limit {l:?} in {arg:?} is not a number"))?,
            ),
        };
        if name.is_empty() || interface.is_empty() || parts.next().is_some() {
            return Err(format!("expected ENDPOINT:INTERFACE[:LIMIT], got {arg:?}"));
        }
        Ok(EndpointSpec {
            name: name.to_string(),
            role,
            interface: interface.to_string(),
            limit,
            container: false,
        })
    }

    /// The stub's `metadata.yaml` for a charm named `name`.
    pub fn metadata_yaml(&self, name: &str) -> String {
        let mut out = format!(
            "name: {name}\nsummary: zk-sim scripted stub\ndescription: a charm without hooks; tests act for its units\n"
        );
        if self.subordinate {
            out += "subordinate: true\n";
        }
        for (role, key) in [
            (Role::Peer, "peers"),
            (Role::Provides, "provides"),
            (Role::Requires, "requires"),
        ] {
            let eps: Vec<&EndpointSpec> =
                self.endpoints.iter().filter(|e| e.role == role).collect();
            if eps.is_empty() {
                continue;
            }
            out += &format!("{key}:\n");
            for e in eps {
                out += &format!("  {}:\n    interface: {}\n", e.name, e.interface);
                if let Some(l) = e.limit {
                    out += &format!("    limit: {l}\n");
                }
                if e.container {
                    out += "    scope: container\n";
                }
            }
        }
        out
    }

    /// Writes the stub charm (its `metadata.yaml`) into `dir` (created).
    pub fn write(&self, name: &str, dir: &Path) -> Result<(), SimError> {
        fs::create_dir_all(dir).map_err(SimError::io("create", dir))?;
        let path = dir.join("metadata.yaml");
        fs::write(&path, self.metadata_yaml(name)).map_err(SimError::io("write", &path))
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
    fn a_stub_charm_declares_its_endpoints_with_limits_and_container_scope() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = StubSpec::new()
            .provides("db", "pgsql")
            .limit(1)
            .peer("peers", "stub-peers")
            .subordinate_to("juju-info", "juju-info");
        spec.write("cos", tmp.path()).unwrap();
        let c = Charm::load(tmp.path()).unwrap();
        assert!(c.subordinate);
        assert_eq!(c.peers, ["peers"]);
        let db = c.endpoint("db").unwrap();
        assert_eq!((db.role, db.limit), (Role::Provides, Some(1)));
        let info = c.endpoint("juju-info").unwrap();
        assert!(info.container && info.role == Role::Requires);
        assert_eq!(
            StubSpec::endpoint_arg(Role::Requires, "zk:zookeeper:2")
                .unwrap()
                .limit,
            Some(2)
        );
        assert!(StubSpec::endpoint_arg(Role::Requires, "zk").is_err());
    }

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
}

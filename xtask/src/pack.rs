//! `cargo xtask pack`: the `.charm` files, without charmcraft.
//!
//! A `.charm` is a zip of the charm directory Juju unpacks on the unit. This writes what
//! `charmcraft pack` would for the parts in `charmcraft.yaml`, plus `hooks/`:
//!
//! | entry | contents |
//! | --- | --- |
//! | `dispatch` | the release binary, mode 0755 (Juju runs it for every hook and action) |
//! | `hooks/<hook>` | a symlink to `../dispatch` for every hook the charm handles, stored as a link (zip external attributes `S_IFLNK \| 0777`, the target as content), not a copy |
//! | `metadata.yaml`, `config.yaml`, `actions.yaml` | copied from the repository |
//! | `manifest.yaml` | the fields charmcraft writes: `charmcraft-version`, `charmcraft-started-at`, `bases` (this file's base), `analysis.attributes` (`language`/`framework` = `unknown`) |
//! | `README.md`, `LICENSE`, `icon.svg` | copied from the repository |
//! | `version` | `<crate version>-r<revision>[-g<commit>[-dirty]]`, shown by Juju as the charm version |
//!
//! One file per Ubuntu base, named as charmcraft names a platform's charm:
//! `<name>_<platform>.charm` with the platform names of `charmcraft.yaml`
//! (`zookeeper_ubuntu-22.04-amd64.charm`).
//!
//! `hooks/` is redundant for Juju >= 2.8 (it runs `dispatch` whenever it exists) and is kept
//! for older agents and for tools that look for hook files; the links add a few bytes each.

use anyhow::{bail, Context, Result};
use charm_files::timestamp::now_secs;
use charm_files::{CharmFile, Metadata, PackedVersion, UtcTime};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testkit::build::{CargoBuild, REVISION_VAR};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::workspace_root;

/// The Ubuntu bases the charm supports, with the glibc each ships.
pub const BASES: [(&str, (u32, u32)); 2] = [("22.04", (2, 35)), ("24.04", (2, 39))];

/// The largest `.charm` accepted.
pub const MAX_CHARM_BYTES: u64 = 5_000_000;

/// The charmcraft release whose output layout this reproduces; written as
/// `charmcraft-version` with a `+zookeeper-xtask` suffix so nobody mistakes it for a
/// charmcraft build.
pub const CHARMCRAFT_LAYOUT_VERSION: &str = "4.5.0";

/// Files copied into the charm as they are.
const STATIC_FILES: [&str; 6] = [
    "metadata.yaml",
    "config.yaml",
    "actions.yaml",
    "README.md",
    "LICENSE",
    "icon.svg",
];

/// `cargo xtask pack`'s command line.
#[derive(Debug, Clone, clap::Args)]
pub struct PackArgs {
    /// Where the .charm files go (default: the repository root)
    #[arg(long = "out", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The charm revision baked into the binary (default: $ZK_CHARM_REVISION, else 1)
    #[arg(long, value_name = "N")]
    pub revision: Option<String>,
    /// Pack only this base (repeatable; default: every base)
    #[arg(long = "base", value_name = "22.04|24.04")]
    pub bases: Vec<String>,
    /// Accepted so that `pack --release` reads well: the build is always a release build
    #[arg(long, hide = true)]
    pub release: bool,
}

impl PackArgs {
    pub fn options(self) -> PackOptions {
        PackOptions {
            out_dir: self.out_dir.unwrap_or_else(workspace_root),
            revision: self
                .revision
                .or_else(|| std::env::var(REVISION_VAR).ok().filter(|r| !r.is_empty())),
            bases: self.bases,
            target_dir: None,
        }
    }
}

/// What to pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    pub out_dir: PathBuf,
    /// The charm revision baked into the binary; `None` means 1.
    pub revision: Option<String>,
    /// Bases to pack (`22.04`, `ubuntu@24.04`, ...); empty means all of [`BASES`].
    pub bases: Vec<String>,
    /// Cargo's `--target-dir` for the build; `None` is the workspace's.
    pub target_dir: Option<PathBuf>,
}

/// Builds and writes the charms; returns their paths.
pub fn pack(opts: &PackOptions) -> Result<Vec<PathBuf>> {
    let root = workspace_root();
    let revision = parse_revision(opts.revision.as_deref())?;
    let bases = select_bases(&opts.bases)?;
    let arch = juju_arch(std::env::consts::ARCH)?;

    // Without an explicit revision the variable is left unset, so that the binary is the
    // same artifact a plain `cargo build --release` makes (Cargo rebuilds when it changes).
    let revision_text = opts.revision.as_ref().map(|_| revision.to_string());
    let mut build = CargoBuild::charm()
        .release(true)
        .var(REVISION_VAR, revision_text.as_deref());
    if let Some(dir) = &opts.target_dir {
        build = build.target_dir(dir);
    }
    let binary = build.run()?;
    let dispatch =
        std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let needed = max_glibc(&dispatch);
    for (base, have) in &bases {
        if let Some(need) = needed.filter(|need| need > have) {
            bail!(
                "{} needs glibc {}.{} but Ubuntu {base} has {}.{}: build on an older host \
                 (Ubuntu 22.04, Debian 11) or drop that base with --base",
                binary.display(),
                need.0,
                need.1,
                have.0,
                have.1
            );
        }
    }

    let meta = Metadata::load(&root)?;
    let mut statics = Vec::new();
    for name in STATIC_FILES {
        let data = std::fs::read(root.join(name))
            .with_context(|| format!("reading {name} (every charm ships it)"))?;
        statics.push((name.to_string(), data));
    }
    let version = packed_version(&root, revision);
    let started = now_secs();
    // Reproducible builds: SOURCE_DATE_EPOCH pins every timestamp in the archive.
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(started);

    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let mut written = Vec::new();
    for (base, _) in &bases {
        let contents = CharmContents {
            dispatch: dispatch.clone(),
            hooks: meta.hook_names(),
            statics: statics.clone(),
            manifest: manifest_yaml(base, arch, &UtcTime::from_epoch(epoch).rfc3339_micros()),
            version: format!("{version}\n"),
        };
        let path = opts
            .out_dir
            .join(format!("{}_ubuntu-{base}-{arch}.charm", meta.name));
        contents.write_zip(&path, epoch)?;
        let size = std::fs::metadata(&path)?.len();
        if size > MAX_CHARM_BYTES {
            bail!(
                "{} is {size} bytes, more than the {MAX_CHARM_BYTES}-byte limit",
                path.display()
            );
        }
        println!(
            "{}  {:.2} MB  (revision {revision}, ubuntu@{base}, {arch})",
            path.display(),
            size as f64 / 1e6
        );
        written.push(path);
    }
    Ok(written)
}

/// A positive integer, default 1.
fn parse_revision(rev: Option<&str>) -> Result<u64> {
    let rev = rev.unwrap_or("1");
    match rev.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("the charm revision must be a positive integer, got {rev:?}"),
    }
}

fn select_bases(wanted: &[String]) -> Result<Vec<(&'static str, (u32, u32))>> {
    if wanted.is_empty() {
        return Ok(BASES.to_vec());
    }
    let mut out = Vec::new();
    for w in wanted {
        let short = w
            .trim_start_matches("ubuntu@")
            .trim_start_matches("ubuntu-");
        match BASES.iter().find(|(b, _)| *b == short) {
            Some(b) if !out.contains(b) => out.push(*b),
            Some(_) => {}
            None => bail!(
                "unsupported base {w:?}; the charm supports {}",
                BASES.map(|(b, _)| format!("ubuntu@{b}")).join(", ")
            ),
        }
    }
    Ok(out)
}

/// Juju's name for the host architecture (the binary is built for the host).
fn juju_arch(rust_arch: &str) -> Result<&'static str> {
    match rust_arch {
        "x86_64" => Ok("amd64"),
        other => bail!("the charm is published for amd64 only; this host is {other}"),
    }
}

/// The newest `GLIBC_x.y` symbol version the binary names (its dynamic string table lists
/// every version it needs), or `None` for a static binary.
pub fn max_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    const TAG: &[u8] = b"GLIBC_";
    let mut best = None;
    let mut i = 0;
    while let Some(pos) = find(&binary[i..], TAG) {
        let start = i + pos + TAG.len();
        let digits: Vec<u8> = binary[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .copied()
            .collect();
        let text = String::from_utf8_lossy(&digits);
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
            best = best.max(Some((major, minor)));
        }
        i = start;
    }
    best
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `manifest.yaml` as charmcraft 4.5 renders it (same keys, order and quoting).
pub fn manifest_yaml(base: &str, arch: &str, started_at: &str) -> String {
    format!(
        "charmcraft-version: {CHARMCRAFT_LAYOUT_VERSION}+zookeeper-xtask\n\
         charmcraft-started-at: '{started_at}'\n\
         bases:\n\
         - name: ubuntu\n\
         \x20 channel: '{base}'\n\
         \x20 architectures:\n\
         \x20 - {arch}\n\
         analysis:\n\
         \x20 attributes:\n\
         \x20 - name: language\n\
         \x20   result: unknown\n\
         \x20 - name: framework\n\
         \x20   result: unknown\n"
    )
}

/// The crate version, the revision, and the checkout's commit (`version` in the charm).
fn packed_version(root: &Path, revision: u64) -> PackedVersion {
    let mut v = PackedVersion {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        revision,
        commit: None,
        dirty: false,
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    v.commit = git(&["rev-parse", "--short", "HEAD"]).filter(|c| !c.is_empty());
    v.dirty = v.commit.is_some()
        && git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    v
}

/// Everything that goes into one `.charm`.
#[derive(Debug, Clone)]
pub struct CharmContents {
    pub dispatch: Vec<u8>,
    pub hooks: Vec<String>,
    /// (path in the zip, contents), written with mode 0644.
    pub statics: Vec<(String, Vec<u8>)>,
    pub manifest: String,
    pub version: String,
}

impl CharmContents {
    /// Writes the zip to `path` (through a temporary file, so a failed pack never leaves a
    /// half-written charm under the final name).
    pub fn write_zip(&self, path: &Path, epoch: u64) -> Result<()> {
        let t = UtcTime::from_epoch(epoch.max(315_532_800)); // zip dates start in 1980
        let mtime = DateTime::from_date_and_time(
            t.year as u16,
            t.month as u8,
            t.day as u8,
            t.hour as u8,
            t.minute as u8,
            t.second as u8,
        )
        .with_context(|| format!("{t} is not a zip timestamp"))?;
        let file = |mode: u32| {
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .last_modified_time(mtime)
                .unix_permissions(mode)
        };
        let tmp = path.with_extension("charm.partial");
        let out =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut zip = ZipWriter::new(out);
        let result = (|| -> Result<()> {
            zip.start_file("manifest.yaml", file(0o644))?;
            zip.write_all(self.manifest.as_bytes())?;
            for (name, data) in &self.statics {
                zip.start_file(name.as_str(), file(0o644))?;
                zip.write_all(data)?;
            }
            zip.start_file(PackedVersion::FILE, file(0o644))?;
            zip.write_all(self.version.as_bytes())?;
            zip.start_file("dispatch", file(0o755))?;
            zip.write_all(&self.dispatch)?;
            zip.add_directory(
                "hooks/",
                SimpleFileOptions::default()
                    .last_modified_time(mtime)
                    .unix_permissions(0o755),
            )?;
            for hook in &self.hooks {
                zip.add_symlink(
                    format!("hooks/{hook}"),
                    "../dispatch",
                    SimpleFileOptions::default()
                        .last_modified_time(mtime)
                        .unix_permissions(0o777),
                )?;
            }
            zip.finish()?.sync_all()?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("writing {}", path.display())));
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const S_IFMT: u32 = 0o170_000;
    const S_IFLNK: u32 = 0o120_000;
    const S_IFREG: u32 = 0o100_000;

    fn repo_meta() -> Metadata {
        Metadata::load(&workspace_root()).unwrap()
    }

    #[test]
    fn hook_names_cover_every_endpoint_and_storage_of_metadata_yaml() {
        let meta = repo_meta();
        assert_eq!(meta.name, "zookeeper");
        let hooks = meta.hook_names();
        for h in [
            "install",
            "leader-settings-changed",
            "cluster-relation-created",
            "upgrade-relation-departed",
            "restart-relation-changed",
            "zookeeper-relation-broken",
            "certificates-relation-created",
            "certificates-relation-broken",
            "cos-agent-relation-joined",
            "data-storage-attached",
            "data-storage-detaching",
        ] {
            assert!(hooks.iter().any(|x| x == h), "{h} missing from {hooks:?}");
        }
        assert_eq!(hooks.len(), 9 + 6 * 5 + 2);
    }

    #[test]
    fn the_manifest_has_the_fields_charmcraft_writes() {
        let text = manifest_yaml("22.04", "amd64", "2026-11-23T08:25:49.000000Z");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(doc["bases"][0]["name"], "ubuntu");
        assert_eq!(
            doc["bases"][0]["channel"], "22.04",
            "the channel must stay a string"
        );
        assert_eq!(doc["bases"][0]["architectures"][0], "amd64");
        assert_eq!(doc["charmcraft-started-at"], "2026-11-23T08:25:49.000000Z");
        assert!(doc["charmcraft-version"]
            .as_str()
            .unwrap()
            .starts_with("4.5.0"));
        let attrs = doc["analysis"]["attributes"].as_sequence().unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0]["name"], "language");
        assert_eq!(attrs[1]["result"], "unknown");
    }

    #[test]
    fn revisions_and_bases_are_validated() {
        assert_eq!(parse_revision(None).unwrap(), 1);
        assert_eq!(parse_revision(Some("042")).unwrap(), 42);
        assert!(parse_revision(Some("0")).is_err());
        assert!(parse_revision(Some("2a")).is_err());
        assert_eq!(select_bases(&[]).unwrap().len(), 2);
        let b = select_bases(&["ubuntu@24.04".into(), "24.04".into()]).unwrap();
        assert_eq!(b, vec![("24.04", (2, 39))]);
        assert!(select_bases(&["20.04".into()]).is_err());
        assert!(juju_arch("aarch64").is_err());
    }

    #[test]
    fn glibc_requirement_is_the_newest_version_named() {
        assert_eq!(
            max_glibc(b"x\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0"),
            Some((2, 34))
        );
        assert_eq!(max_glibc(b"GLIBC_2.9\0GLIBC_2.10\0"), Some((2, 10)));
        assert_eq!(max_glibc(b"static binary"), None);
    }

    #[test]
    fn the_zip_stores_hooks_as_symlinks_and_dispatch_as_executable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.charm");
        let contents = CharmContents {
            dispatch: b"\x7fELF binary".to_vec(),
            hooks: vec!["install".into(), "cluster-relation-changed".into()],
            statics: vec![("metadata.yaml".into(), b"name: t\n".to_vec())],
            manifest: manifest_yaml("24.04", "amd64", "x"),
            version: "0.1.0-r7\n".into(),
        };
        contents.write_zip(&path, 1_795_422_349).unwrap();
        assert!(!dir.path().join("t.charm.partial").exists());

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut read = |name: &str| {
            let mut f = zip.by_name(name).unwrap();
            let mode = f.unix_mode().unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (mode, data)
        };
        let (mode, data) = read("dispatch");
        assert_eq!(mode & S_IFMT, S_IFREG);
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(data, b"\x7fELF binary");
        for hook in ["hooks/install", "hooks/cluster-relation-changed"] {
            let (mode, data) = read(hook);
            assert_eq!(mode & S_IFMT, S_IFLNK, "{hook} is not a symlink");
            assert_eq!(data, b"../dispatch");
        }
        let (mode, data) = read("metadata.yaml");
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(data, b"name: t\n");
        assert_eq!(read("version").1, b"0.1.0-r7\n");
        assert!(String::from_utf8(read("manifest.yaml").1)
            .unwrap()
            .contains("channel: '24.04'"));
    }
}

//! PEP 440 versions and version constraints with Poetry's (poetry-core) semantics.
//!
//! The upgrade dependency model states which versions a revision can upgrade from
//! (`upgrade_supported: "^3.5"`). The Python upgrade lib evaluates that with poetry-core's
//! `parse_constraint(requirement).allows(Version.parse(version))`; this module does the
//! same, so a model written for the Python charm means the same thing here.
//!
//! # Versions, and how they sit on `semver`
//!
//! A [`Version`] wraps a [`semver::Version`] and carries the PEP 440 parts semver has no
//! place for:
//!
//! | PEP 440 part | where it lives |
//! | --- | --- |
//! | release `1.2.3` | `semver` major.minor.patch (missing components pad with 0); the components as written are kept too, because caret and tilde depend on how many were given (`^3` differs from `^3.0.0`) |
//! | 4th and later release components (`1.2.3.4`) | the wrapper only (semver has three) |
//! | pre-release `a1`, `b2`, `rc3` (also spelt `alpha`, `beta`, `c`, `pre`, `preview`) | `semver` pre-release `a.1`, `b.2`, `rc.3`: semver orders alphanumeric identifiers in ASCII order, so `a < b < rc < final` |
//! | dev release of a final release (`1.0.dev4`) | `semver` pre-release `0.4`: semver ranks numeric identifiers below alphanumeric ones, so `dev < a` |
//! | dev release of a pre- or post-release (`1.0a1.dev2`, `1.0.post1.dev2`) | the wrapper only: semver cannot rank `a1.dev2` below `a1` |
//! | post-release `.post1`, `-1`, `r1`, `rev1` | the wrapper only: semver has nothing above a release |
//! | local label `+ubuntu.1` | `semver` build metadata `ubuntu.1` (both are ignored by plain equality), and the wrapper |
//! | epoch `2!` | the wrapper only |
//!
//! Ordering is PEP 440's: epoch, then the release (trailing zeros ignored, so `3.8` ==
//! `3.8.0` == `3.8.0.0`), then the pre-release slot compared with
//! [`semver::Prerelease`]'s own ordering (empty = final ranks highest), then post
//! (none < any), then dev (any < none), then the local label (none < any; numeric segments
//! rank above alphanumeric ones).
//!
//! Parsing follows PEP 440 (case-insensitive, a leading `v` allowed, `1.2.3-1` is
//! post-release 1). Anything else is an error, not a best guess: `3.8.4-ubuntu0` and
//! `3.8.4-stable` do not parse. Numbers must fit in a `u64` (Python has no limit).
//!
//! # Constraints
//!
//! [`Constraint::parse`] follows poetry-core's `parse_constraint`:
//!
//! * `||` (or one `|`) separates alternatives (OR);
//! * inside an alternative, `,` or a single space separates atoms (AND); a trailing comma is
//!   tolerated; `>= 1.0` (operator, space, version) is one atom;
//! * atoms: `*` / `x` / `v*` / `*.*` (any version, pre-releases included), `^V` (caret),
//!   `~V` (tilde), `~=V` (compatible release), `>V` `>=V` `<V` `<=V`, `V` `=V` `==V`
//!   (exact), `!=V`, `A.B.*` `==A.B.*` (prefix match), `!=A.B.*`, and `>=A.B.*` etc. where
//!   the wildcard is dropped;
//! * PEP 440's pre-release rules: `<4` excludes `4.0.0rc1` and `4.0.0.dev1` (unless the
//!   bound is itself a pre-release), `>V` excludes post-releases and local versions of V,
//!   `<=V` and `V` accept `V+local`.
//!
//! Deliberate differences from poetry-core: `<>V` is rejected (poetry-core reads it as
//! `==V`, surely not what anyone writing it means), and an AND of atoms is evaluated atom
//! by atom instead of by intersecting ranges (the same answer for every input the
//! reference notes list).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A version string that is not a PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {input:?}: {reason}")]
pub struct VersionError {
    /// The text that failed to parse, as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A version constraint that does not parse. Its text names the constraint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version constraint {constraint:?}: {reason}")]
pub struct ConstraintError {
    /// The whole constraint, as given.
    pub constraint: String,
    /// What is wrong with it (naming the failing part when the constraint has several).
    pub reason: String,
}

/// Either input of [`verify_requirement`] is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
}

/// Whether `version` satisfies `requirement` (the upgrade lib's `verify_requirements`).
///
/// A malformed version or requirement is an error, never `false`.
pub fn verify_requirement(version: &str, requirement: &str) -> Result<bool, RequirementError> {
    let constraint = Constraint::parse(requirement)?;
    let version = Version::parse(version)?;
    Ok(constraint.allows(&version))
}

/// The phase of a PEP 440 pre-release, in rank order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrePhase {
    /// `a`, `alpha`
    Alpha,
    /// `b`, `beta`
    Beta,
    /// `rc`, `c`, `pre`, `preview`
    Rc,
}

impl PrePhase {
    /// The normalised spelling (`a`, `b`, `rc`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrePhase::Alpha => "a",
            PrePhase::Beta => "b",
            PrePhase::Rc => "rc",
        }
    }
}

/// A PEP 440 version built on [`semver::Version`]; see the module docs for the mapping.
///
/// Equality and ordering are PEP 440's (`3.8 == 3.8.0`), not field-by-field.
#[derive(Debug, Clone)]
pub struct Version {
    semver: semver::Version,
    epoch: u64,
    /// The release components as written (at least one).
    release: Vec<u64>,
    pre: Option<(PrePhase, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    /// Lower-cased local label segments; empty when there is no local label.
    local: Vec<String>,
}

impl Version {
    /// Parses a PEP 440 version. Surrounding whitespace and a leading `v` are allowed.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        parse_pep440(input.trim()).map_err(|reason| VersionError {
            input: input.to_string(),
            reason,
        })
    }

    fn build(
        epoch: u64,
        release: Vec<u64>,
        pre: Option<(PrePhase, u64)>,
        post: Option<u64>,
        dev: Option<u64>,
        local: Vec<String>,
    ) -> Version {
        debug_assert!(!release.is_empty());
        let component = |i: usize| release.get(i).copied().unwrap_or(0);
        let pre_text = match (pre, post, dev) {
            (Some((phase, n)), _, _) => Some(format!("{}.{n}", phase.as_str())),
            // A dev release of a final release ranks below every pre-release.
            (None, None, Some(n)) => Some(format!("0.{n}")),
            _ => None,
        };
        let semver_pre = match pre_text {
            // A phase name or 0, then a decimal number: always a valid semver pre-release.
            Some(text) => semver::Prerelease::new(&text)
                .expect("a phase name and a decimal number form a valid semver pre-release"),
            None => semver::Prerelease::EMPTY,
        };
        let semver_build = if local.is_empty() {
            semver::BuildMetadata::EMPTY
        } else {
            // Local segments are non-empty runs of [a-z0-9]: valid build identifiers.
            semver::BuildMetadata::new(&local.join("."))
                .expect("local label segments are valid semver build identifiers")
        };
        Version {
            semver: semver::Version {
                major: component(0),
                minor: component(1),
                patch: component(2),
                pre: semver_pre,
                build: semver_build,
            },
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        }
    }

    /// The semver view: major.minor.patch, the pre-release phase and the local label.
    pub fn as_semver(&self) -> &semver::Version {
        &self.semver
    }
    pub fn major(&self) -> u64 {
        self.semver.major
    }
    pub fn minor(&self) -> u64 {
        self.semver.minor
    }
    pub fn patch(&self) -> u64 {
        self.semver.patch
    }
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The release components as written (`3.8` has two, `3.8.0.0` four).
    pub fn release(&self) -> &[u64] {
        &self.release
    }
    pub fn pre(&self) -> Option<(PrePhase, u64)> {
        self.pre
    }
    pub fn post(&self) -> Option<u64> {
        self.post
    }
    pub fn dev(&self) -> Option<u64> {
        self.dev
    }
    /// The normalised local label (`ubuntu.1`), if any.
    pub fn local(&self) -> Option<String> {
        (!self.local.is_empty()).then(|| self.local.join("."))
    }
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }
    pub fn is_postrelease(&self) -> bool {
        self.post.is_some()
    }
    pub fn is_devrelease(&self) -> bool {
        self.dev.is_some()
    }
    pub fn is_local(&self) -> bool {
        !self.local.is_empty()
    }
    /// Neither a pre-release nor a dev release.
    pub fn is_stable(&self) -> bool {
        self.pre.is_none() && self.dev.is_none()
    }

    fn precision(&self) -> usize {
        self.release.len()
    }

    fn with_release(&self, release: Vec<u64>) -> Version {
        Version::build(self.epoch, release, None, None, None, Vec::new())
    }

    /// poetry-core `stable`: the release itself for a stable version; otherwise the release
    /// without pre/dev (keeping a post-release when there was no pre-release).
    fn stable(&self) -> Version {
        if self.is_stable() {
            return self.clone();
        }
        let post = if self.pre.is_none() { self.post } else { None };
        Version::build(
            self.epoch,
            self.release.clone(),
            None,
            post,
            None,
            Vec::new(),
        )
    }

    /// Bumps the major component, zeroing the others and keeping the precision.
    fn next_major(&self) -> Version {
        let mut release = vec![0; self.precision()];
        release[0] = self.release[0] + 1;
        self.with_release(release)
    }

    /// Bumps the minor component (adding one for a single-component version).
    fn next_minor(&self) -> Version {
        let mut release = vec![0; self.precision().max(2)];
        release[0] = self.release[0];
        release[1] = self.release.get(1).map_or(1, |m| m + 1);
        self.with_release(release)
    }

    /// Bumps the patch component (adding components up to three as needed).
    fn next_patch(&self) -> Version {
        let mut release = vec![0; self.precision().max(3)];
        release[0] = self.release[0];
        release[1] = self.release.get(1).copied().unwrap_or(0);
        release[2] = self.release.get(2).map_or(1, |p| p + 1);
        self.with_release(release)
    }

    /// The upper bound of a caret range.
    fn next_breaking(&self) -> Version {
        let stable = self.stable();
        if self.release[0] > 0 || self.precision() == 1 {
            return stable.next_major();
        }
        if self.release[1] > 0 || self.precision() == 2 {
            return stable.next_minor();
        }
        stable.next_patch()
    }

    /// The next version at this precision (`3.8` -> `3.9`, `1.2.3.4` -> `1.2.3.5`); an
    /// unstable version's own release.
    fn next_stable(&self) -> Version {
        if !self.is_stable() {
            return self.with_release(self.release.clone());
        }
        let mut release = self.release.clone();
        let last = release.len() - 1;
        release[last] += 1;
        self.with_release(release)
    }

    fn next_postrelease(&self) -> Version {
        let post = match self.post {
            Some(p) if self.dev.is_none() => p + 1,
            Some(p) => p,
            None => 0,
        };
        Version::build(
            self.epoch,
            self.release.clone(),
            self.pre,
            Some(post),
            None,
            Vec::new(),
        )
    }

    fn next_prerelease(&self) -> Version {
        let pre = match self.pre {
            Some((phase, n)) if self.dev.is_none() || self.post.is_some() => (phase, n + 1),
            Some(pre) => pre,
            None => (PrePhase::Alpha, 0),
        };
        Version::build(
            self.epoch,
            self.release.clone(),
            Some(pre),
            None,
            None,
            Vec::new(),
        )
    }

    fn next_devrelease(&self) -> Version {
        let dev = self.dev.map_or(0, |d| d + 1);
        Version::build(
            self.epoch,
            self.release.clone(),
            self.pre,
            self.post,
            Some(dev),
            Vec::new(),
        )
    }

    /// The same version as its first dev release (`4` -> `4.dev0`), without local label.
    fn first_devrelease(&self) -> Version {
        Version::build(
            self.epoch,
            self.release.clone(),
            self.pre,
            self.post,
            Some(0),
            Vec::new(),
        )
    }

    fn without_local(&self) -> Version {
        Version::build(
            self.epoch,
            self.release.clone(),
            self.pre,
            self.post,
            self.dev,
            Vec::new(),
        )
    }

    /// Drops the post-release (and a dev release of it).
    fn without_postrelease(&self) -> Version {
        if self.post.is_none() {
            return self.clone();
        }
        Version::build(
            self.epoch,
            self.release.clone(),
            self.pre,
            None,
            None,
            self.local.clone(),
        )
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| cmp_release(&self.release, &other.release))
            // The pre-release slot: a/b/rc, or "dev of a final", or empty (= final, highest).
            .then_with(|| self.semver.pre.cmp(&other.semver.pre))
            // No post-release ranks below any post-release.
            .then_with(|| self.post.cmp(&other.post))
            // A dev release ranks below the same version without one.
            .then_with(|| match (self.dev, other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
            .then_with(|| cmp_local(&self.local, &other.local))
    }
}

/// Compares release tuples with missing components counting as zero.
fn cmp_release(a: &[u64], b: &[u64]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.cmp(&y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// PEP 440 local label ordering: segment by segment, numeric segments compare numerically
/// and rank above alphanumeric ones, alphanumeric ones compare lexically, and a shorter
/// label ranks below a longer one it prefixes.
fn cmp_local(a: &[String], b: &[String]) -> Ordering {
    fn key(seg: &str) -> (bool, &str) {
        let numeric = seg.bytes().all(|c| c.is_ascii_digit());
        if numeric {
            let trimmed = seg.trim_start_matches('0');
            (true, trimmed)
        } else {
            (false, seg)
        }
    }
    for (x, y) in a.iter().zip(b) {
        let (xn, xs) = key(x);
        let (yn, ys) = key(y);
        let ord = match (xn, yn) {
            (true, true) => xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys)),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => xs.cmp(ys),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

impl fmt::Display for Version {
    /// The normalised PEP 440 form (`1.2.3-1` shows as `1.2.3.post1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        if let Some((phase, n)) = self.pre {
            write!(f, "{}{n}", phase.as_str())?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if !self.local.is_empty() {
            write!(f, "+{}", self.local.join("."))?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

/// A cursor over the lower-cased bytes of a version string.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.b.get(self.i + offset).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, word: &str) -> bool {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }
    fn at_digit(&self) -> bool {
        self.peek().is_some_and(|c| c.is_ascii_digit())
    }
    fn number(&mut self) -> Result<u64, String> {
        let start = self.i;
        while self.at_digit() {
            self.i += 1;
        }
        let digits = std::str::from_utf8(&self.b[start..self.i]).unwrap_or_default();
        // Bounds computed from a version add one to a component, so the largest u64 is
        // refused here rather than overflowing there (found by fuzzing).
        digits
            .parse::<u64>()
            .ok()
            .filter(|n| *n < u64::MAX)
            .ok_or_else(|| format!("number {digits:?} is too large"))
    }
    /// After a pre/post/dev label: an optional separator, then an optional number.
    /// PEP 440's grammar lets the separator dangle (`1.0a.` is `1.0a0`), so it stays
    /// consumed even when no number follows.
    fn label_number(&mut self) -> Result<u64, String> {
        self.eat_separator();
        if self.at_digit() {
            return self.number();
        }
        Ok(0)
    }
}

/// Parses one PEP 440 version with no surrounding whitespace.
fn parse_pep440(text: &str) -> Result<Version, String> {
    if text.is_empty() {
        return Err("empty version".into());
    }
    let lower = text.to_ascii_lowercase();
    let mut c = Cursor {
        b: lower.as_bytes(),
        i: 0,
    };
    c.eat(b'v');
    if !c.at_digit() {
        return Err("a version starts with a number (PEP 440)".into());
    }
    let mut epoch = 0;
    let mut first = c.number()?;
    if c.eat(b'!') {
        if !c.at_digit() {
            return Err("expected a release number after the epoch".into());
        }
        epoch = first;
        first = c.number()?;
    }
    let mut release = vec![first];
    while c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
        release.push(c.number()?);
    }

    // Pre-release: [-_.]? (alpha|a|beta|b|preview|pre|c|rc) [-_.]? N?
    let mut pre = None;
    {
        let save = c.i;
        c.eat_separator();
        let phase = [
            ("alpha", PrePhase::Alpha),
            ("a", PrePhase::Alpha),
            ("beta", PrePhase::Beta),
            ("b", PrePhase::Beta),
            ("preview", PrePhase::Rc),
            ("pre", PrePhase::Rc),
            ("c", PrePhase::Rc),
            ("rc", PrePhase::Rc),
        ]
        .into_iter()
        .find(|(word, _)| c.eat_word(word))
        .map(|(_, phase)| phase);
        match phase {
            Some(phase) => pre = Some((phase, c.label_number()?)),
            None => c.i = save,
        }
    }

    // Post-release: -N, or [-_.]? (post|rev|r) [-_.]? N?
    let mut post = None;
    if c.peek() == Some(b'-') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.i += 1;
        post = Some(c.number()?);
    } else {
        let save = c.i;
        c.eat_separator();
        if ["post", "rev", "r"].into_iter().any(|w| c.eat_word(w)) {
            post = Some(c.label_number()?);
        } else {
            c.i = save;
        }
    }

    // Dev release: [-_.]? dev [-_.]? N?
    let mut dev = None;
    {
        let save = c.i;
        c.eat_separator();
        if c.eat_word("dev") {
            dev = Some(c.label_number()?);
        } else {
            c.i = save;
        }
    }

    // Local label: + [a-z0-9]+ ([-_.][a-z0-9]+)*
    let mut local = Vec::new();
    if c.eat(b'+') {
        loop {
            let start = c.i;
            while c.peek().is_some_and(|ch| ch.is_ascii_alphanumeric()) {
                c.i += 1;
            }
            if c.i == start {
                return Err(
                    "a local label is alphanumeric segments separated by '.', '-' or '_'".into(),
                );
            }
            local.push(lower[start..c.i].to_string());
            let more = matches!(c.peek(), Some(b'-' | b'_' | b'.'))
                && c.peek_at(1).is_some_and(|ch| ch.is_ascii_alphanumeric());
            if !more {
                break;
            }
            c.i += 1;
        }
    }

    if c.i != c.b.len() {
        let (done, rest) = text.split_at(c.i);
        return Err(format!(
            "unexpected {rest:?} after {done:?} (not a PEP 440 version; Debian or snap \
             revision suffixes are not versions)"
        ));
    }
    Ok(Version::build(epoch, release, pre, post, dev, local))
}

/// A range with optional bounds, as poetry-core's `VersionRange`.
#[derive(Debug, Clone)]
struct Range {
    min: Option<Version>,
    max: Option<Version>,
    include_min: bool,
    include_max: bool,
}

impl Range {
    fn at_least(min: Version) -> Range {
        Range {
            min: Some(min),
            max: None,
            include_min: true,
            include_max: false,
        }
    }
    fn above(min: Version) -> Range {
        Range {
            min: Some(min),
            max: None,
            include_min: false,
            include_max: false,
        }
    }
    fn below(max: Version) -> Range {
        Range {
            min: None,
            max: Some(max),
            include_min: false,
            include_max: false,
        }
    }
    fn at_most(max: Version) -> Range {
        Range {
            min: None,
            max: Some(max),
            include_min: false,
            include_max: true,
        }
    }
    /// `>=min, <max`
    fn half_open(min: Version, max: Version) -> Range {
        Range {
            min: Some(min),
            max: Some(max),
            include_min: true,
            include_max: false,
        }
    }

    /// The effective upper bound: an exclusive stable bound `<V` sits just below `V.dev0`
    /// so that V's own pre-releases are excluded.
    fn allowed_max(&self, max: &Version) -> Version {
        if self.include_max || !max.is_stable() {
            return max.clone();
        }
        if self.min.as_ref() == Some(max) && (self.include_min || self.include_max) {
            return max.clone();
        }
        max.first_devrelease()
    }

    fn allows(&self, version: &Version) -> bool {
        if let Some(min) = &self.min {
            let mut other = version.clone();
            // `>V` never matches a post-release of V (unless V is one).
            if !self.include_min && !min.is_postrelease() && other.is_postrelease() {
                other = other.without_postrelease();
            }
            // ... nor a local version of V.
            if !min.is_local() && other.is_local() {
                other = other.without_local();
            }
            if other < *min || (!self.include_min && other == *min) {
                return false;
            }
        }
        if let Some(max) = &self.max {
            let allowed = self.allowed_max(max);
            let mut other = version.clone();
            // `<=V` accepts `V+local`.
            if !allowed.is_local() && other.is_local() {
                other = other.without_local();
            }
            if other > allowed || (!self.include_max && (other == *max || other == allowed)) {
                return false;
            }
        }
        true
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(min) = &self.min {
            parts.push(format!(
                "{}{min}",
                if self.include_min { ">=" } else { ">" }
            ));
        }
        if let Some(max) = &self.max {
            parts.push(format!(
                "{}{max}",
                if self.include_max { "<=" } else { "<" }
            ));
        }
        if parts.is_empty() {
            f.write_str("*")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// One atom of a constraint.
#[derive(Debug, Clone)]
enum Atom {
    Any,
    Exact(Version),
    Range(Range),
    /// Either range (`!=V` is `<V || >V`, `!=A.B.*` is `<A.B.dev0 || >=A.(B+1).dev0`).
    Either(Box<(Range, Range)>),
}

impl Atom {
    fn allows(&self, version: &Version) -> bool {
        match self {
            Atom::Any => true,
            Atom::Exact(v) => {
                // `3.8.4` allows `3.8.4+x`.
                if !v.is_local() && version.is_local() {
                    *v == version.without_local()
                } else {
                    v == version
                }
            }
            Atom::Range(r) => r.allows(version),
            Atom::Either(pair) => pair.0.allows(version) || pair.1.allows(version),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Any => f.write_str("*"),
            Atom::Exact(v) => write!(f, "=={v}"),
            Atom::Range(r) => write!(f, "{r}"),
            Atom::Either(pair) => write!(f, "{} || {}", pair.0, pair.1),
        }
    }
}

/// A parsed version constraint: alternatives (OR) of atoms (AND).
#[derive(Debug, Clone)]
pub struct Constraint {
    text: String,
    alternatives: Vec<Vec<Atom>>,
}

impl Constraint {
    /// Parses a constraint with poetry-core's grammar (see the module docs).
    pub fn parse(input: &str) -> Result<Constraint, ConstraintError> {
        let error = |reason: String| ConstraintError {
            constraint: input.to_string(),
            reason,
        };
        let whole = input.trim();
        if whole.is_empty() {
            return Err(error("the constraint is empty".into()));
        }
        if whole == "*" {
            return Ok(Constraint {
                text: input.to_string(),
                alternatives: vec![vec![Atom::Any]],
            });
        }
        let mut alternatives = Vec::new();
        for alternative in split_or(whole) {
            let alternative = alternative.trim_end_matches(',').trim_end();
            if alternative.is_empty() {
                return Err(error(
                    "an alternative is empty (nothing on one side of `||`)".into(),
                ));
            }
            let pieces = split_and(alternative);
            let mut atoms = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let atom = parse_atom(piece).map_err(|reason| {
                    if piece == whole {
                        error(reason)
                    } else {
                        error(format!("in {piece:?}: {reason}"))
                    }
                })?;
                atoms.push(atom);
            }
            alternatives.push(atoms);
        }
        Ok(Constraint {
            text: input.to_string(),
            alternatives,
        })
    }

    /// Whether `version` satisfies the constraint.
    pub fn allows(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|atoms| atoms.iter().all(|atom| atom.allows(version)))
    }

    /// The constraint as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The constraint spelt out as bounds (`^3.6` is `>=3.6,<4.0`; `3.8.*` is
    /// `>=3.8.dev0,<3.9.dev0`), for logs and error messages.
    pub fn expanded(&self) -> String {
        self.alternatives
            .iter()
            .map(|atoms| {
                atoms
                    .iter()
                    .map(Atom::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(" || ")
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

/// Splits on `||` or `|` with any whitespace around it (poetry: `\s*\|\|?\s*`).
fn split_or(s: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let ws = rest.len() - rest.trim_start().len();
        if rest[ws..].starts_with('|') {
            let mut end = i + ws + 1;
            if s[end..].starts_with('|') {
                end += 1;
            }
            end += s[end..].len() - s[end..].trim_start().len();
            pieces.push(&s[last..i]);
            last = end;
            i = end;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    pieces.push(&s[last..]);
    pieces
}

/// Splits an alternative into AND atoms, the way poetry's
/// `(?<!^)(?<![\^~=>< ,]) *(?<!-)[, ](?!-) *(?!,|$)` splits it: one comma or space with
/// optional spaces around, not right after an operator (so `>= 1.0` stays whole), not
/// next to a `-`, and not at the end.
fn split_and(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut pieces = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match and_separator_at(b, i) {
            Some(end) => {
                pieces.push(&s[last..i]);
                last = end;
                i = end;
            }
            None => i += 1,
        }
    }
    pieces.push(&s[last..]);
    pieces
}

/// The end of an AND separator starting at `i`, trying the longest runs of spaces first
/// as a backtracking regex would.
fn and_separator_at(b: &[u8], i: usize) -> Option<usize> {
    if i == 0 || matches!(b[i - 1], b'^' | b'~' | b'=' | b'>' | b'<' | b' ' | b',') {
        return None;
    }
    let spaces_before = b[i..].iter().take_while(|&&c| c == b' ').count();
    for lead in (0..=spaces_before).rev() {
        let j = i + lead;
        if j >= b.len() || !matches!(b[j], b',' | b' ') || b[j - 1] == b'-' {
            continue;
        }
        if b.get(j + 1) == Some(&b'-') {
            continue;
        }
        let spaces_after = b[j + 1..].iter().take_while(|&&c| c == b' ').count();
        for trail in (0..=spaces_after).rev() {
            let k = j + 1 + trail;
            if k < b.len() && b[k] != b',' {
                return Some(k);
            }
        }
    }
    None
}

/// Parses the version part of an atom (the text after the operator).
fn atom_version(text: &str) -> Result<Version, String> {
    if text.eq_ignore_ascii_case("dev") {
        // poetry-core reads a bare `dev` as 0.0.dev0.
        return Ok(Version::build(
            0,
            vec![0, 0],
            None,
            None,
            Some(0),
            Vec::new(),
        ));
    }
    parse_pep440(text).map_err(|reason| format!("{text:?} is not a version: {reason}"))
}

/// `v?[xX*](\.[xX*])*`: any version.
fn is_any_wildcard(s: &str) -> bool {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    !s.is_empty() && s.split('.').all(|part| matches!(part, "*" | "x" | "X"))
}

/// `A.B.*`: from `A.B.dev0` up to, not including, `A.(B+1).dev0`. poetry-core's
/// `_make_x_constraint_range`.
fn prefix_range(version: &Version) -> Range {
    let next = if version.is_postrelease() {
        version.next_postrelease()
    } else if version.is_stable() {
        version.next_stable()
    } else if version.is_prerelease() {
        version.next_prerelease()
    } else {
        version.next_devrelease()
    };
    let min = version.first_devrelease();
    let max = if next.is_devrelease() {
        next
    } else {
        next.first_devrelease()
    };
    Range::half_open(min, max)
}

/// Parses one atom (no `||`, no AND separators).
fn parse_atom(piece: &str) -> Result<Atom, String> {
    if piece.is_empty() {
        return Err("empty constraint".into());
    }
    if is_any_wildcard(piece) {
        return Ok(Atom::Any);
    }
    if let Some(rest) = piece.strip_prefix("~=") {
        let version = atom_version(rest.trim_start())?;
        let stable = version.stable();
        let high = if version.precision() == 2 {
            stable.next_major()
        } else {
            stable.next_minor()
        };
        return Ok(Atom::Range(Range::half_open(version, high)));
    }
    if let Some(rest) = piece.strip_prefix('~') {
        let version = atom_version(rest.trim_start())?;
        let stable = version.stable();
        let high = if version.precision() == 1 {
            stable.next_major()
        } else {
            stable.next_minor()
        };
        return Ok(Atom::Range(Range::half_open(version, high)));
    }
    if let Some(rest) = piece.strip_prefix('^') {
        let version = atom_version(rest.trim_start())?;
        let high = version.next_breaking();
        return Ok(Atom::Range(Range::half_open(version, high)));
    }
    if piece.starts_with("<>") {
        return Err("`<>` is not supported; write `!=`".into());
    }
    let (op, rest) = ["!=", ">=", "<=", "==", ">", "<", "="]
        .into_iter()
        .find_map(|op| piece.strip_prefix(op).map(|rest| (op, rest)))
        .unwrap_or(("", piece));
    let mut body = rest.trim_start();
    if body.is_empty() {
        return Err(format!("no version after {op:?}"));
    }
    let mut wildcards = 0;
    while let Some(stripped) = body.strip_suffix(".*") {
        body = stripped;
        wildcards += 1;
    }
    if wildcards > 1 {
        // Repeated `.*` only in poetry's X-range form: up to three numbers.
        let numbers = body.strip_prefix('v').unwrap_or(body);
        let simple = matches!(op, "" | "==" | "!=")
            && (1..=3).contains(&numbers.split('.').count())
            && numbers
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
        if !simple {
            return Err(format!("cannot parse {piece:?} as a version constraint"));
        }
    }
    let version = atom_version(body)?;
    Ok(match op {
        "<" => Atom::Range(Range::below(version)),
        "<=" => Atom::Range(Range::at_most(version)),
        ">" => Atom::Range(Range::above(version)),
        ">=" => Atom::Range(Range::at_least(version)),
        "!=" if wildcards > 0 => {
            let inside = prefix_range(&version);
            let (Some(min), Some(max)) = (inside.min, inside.max) else {
                unreachable!("a prefix range has both bounds")
            };
            Atom::Either(Box::new((Range::below(min), Range::at_least(max))))
        }
        "!=" => Atom::Either(Box::new((
            Range::below(version.clone()),
            Range::above(version),
        ))),
        _ if wildcards > 0 => Atom::Range(prefix_range(&version)),
        _ => Atom::Exact(version),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_caret_on_the_largest_release_number_neither_overflows_nor_rejects_it() {
        use super::{Constraint, Version};
        let max = "18446744073709551615";
        match Constraint::parse(&format!("^{max}")) {
            Err(_) => {}
            Ok(c) => assert!(c.allows(&Version::parse(max).unwrap())),
        }
        for c in [
            "~=1.18446744073709551615.0",
            "==1.0.dev18446744073709551615.*",
        ] {
            let _ = Constraint::parse(c);
        }
    }

    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What a row of the table expects.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Allows,
        Rejects,
        BadConstraint,
        BadVersion,
    }
    use Expect::*;

    /// Every verified example and edge rule of poetry-core's constraint semantics and of the
    /// data-platform upgrade lib's tests.
    const TABLE: &[(&str, &str, Expect)] = &[
        // caret (§1.2.1: ^3.6 -> >=3.6,<4.0; ^3 -> >=3,<4; ^0.2.3 -> <0.3.0; ^0.0.3 -> <0.0.4;
        // ^0.0 -> <0.1; ^0 -> <1; ^1.2.3.4 -> <2.0.0.0)
        ("^3.6", "3.6", Allows),
        ("^3.6", "3.9.9", Allows),
        ("^3.6", "4.0", Rejects),
        ("^3.6", "3.5.9", Rejects),
        ("^3", "3.99.1", Allows),
        ("^3", "4", Rejects),
        ("^0.2.3", "0.2.9", Allows),
        ("^0.2.3", "0.3.0", Rejects),
        ("^0.2.3", "0.2.2", Rejects),
        ("^0.0.3", "0.0.3", Allows),
        ("^0.0.3", "0.0.4", Rejects),
        ("^0.0", "0", Allows),
        ("^0.0", "0.0.1", Allows),
        ("^0.0", "0.1", Rejects),
        ("^0", "0.9.9", Allows),
        ("^0", "1.0", Rejects),
        ("^1.2.3.4", "1.9", Allows),
        ("^1.2.3.4", "2.0.0.0", Rejects),
        ("^1.2.3.4", "1.2.3.3", Rejects),
        // caret (§1.2.2)
        ("^1.2.3", "1.2.2", Rejects),
        ("^1.2.3", "2.0.0", Rejects),
        ("^1.2.3", "1.3.4", Allows),
        ("^1.2.3", "1.3.2", Allows), // LIBPATCH 9 got this wrong
        ("^1.2", "1.0.0", Rejects),
        ("^1.2", "2", Rejects),
        // the charm's own upgrade_supported
        ("^3.5", "3.8.0", Allows),
        ("^3.5", "3.9.2", Allows),
        ("^3.5", "3.4.14", Rejects),
        // tilde (§1.2.1: ~3.3 -> <3.4; ~3.3.1 -> <3.4.0; ~3 -> <4; ~0 -> <1; ~1.2.3.4 -> <1.3.0.0)
        ("~3.3", "3.3.9", Allows),
        ("~3.3", "3.4", Rejects),
        ("~3.3.1", "3.3.1", Allows),
        ("~3.3.1", "3.3.0", Rejects),
        ("~3.3.1", "3.4.0", Rejects),
        ("~3", "3.9", Allows),
        ("~3", "4", Rejects),
        ("~0", "0.5", Allows),
        ("~1.2.3.4", "1.2.9", Allows),
        ("~1.2.3.4", "1.3.0.0", Rejects),
        // tilde (§1.2.2)
        ("~1.2.3", "1.2", Rejects),
        ("~1.2.3", "1.3.2", Rejects),
        ("~1.2.3", "1.2.5", Allows),
        ("~1.2", "1.6", Rejects),
        ("~1.2", "1.1", Rejects),
        ("~2.2", "1.2.1", Rejects), // LIBPATCH 9 accepted lower majors
        ("~1", "1.9.9", Allows),
        ("~1", "0.9.9", Rejects),
        ("~0", "1", Rejects),
        // ~= (§1.2.1: ~=3.3 -> <4.0; ~=3.3.1 -> <3.4.0; ~=1 -> <1.1)
        ("~=3.3", "3.9", Allows),
        ("~=3.3", "4.0", Rejects),
        ("~=3.3", "3.2", Rejects),
        ("~=3.3.1", "3.3.5", Allows),
        ("~=3.3.1", "3.4.0", Rejects),
        ("~=1", "1.0.5", Allows),
        ("~=1", "1.1", Rejects),
        // comparisons (§1.2.1, §1.2.2)
        (">1.0", "1.0.0", Rejects),
        (">=1.0", "1.0.0", Allows),
        (">1.6", "1.35.8", Allows), // numeric, not lexical
        (">0", "0.0", Rejects),
        (">0", "0.0.0", Rejects),
        (">=1", "1", Allows),
        (">=1", "1.0", Allows),
        (">=1", "1.0.0", Allows),
        ("<4", "3.9.9", Allows),
        ("<=3.8", "3.8.0", Allows),
        ("<=3.8", "3.8.1", Rejects),
        ("> 1.0", "1.1", Allows),
        // exact: missing components count as zero, local ignored, post/pre differ
        ("3.8", "3.8.0", Allows),
        ("3.8", "3.8.0.0", Allows),
        ("3.8", "3.8.1", Rejects),
        ("0.1", "0.1", Allows),
        ("0.1", "0.2", Rejects),
        ("=3.8", "3.8.0", Allows),
        ("==3.8.0", "3.8", Allows),
        ("3.8.4", "3.8.4+x", Allows),
        ("1.2.3", "1.2.3.post1", Rejects),
        ("1.2.3", "1.2.3rc1", Rejects),
        ("100", "100.0.0", Allows), // single-number versions
        ("100", "101", Rejects),
        // !=
        ("!=3.8", "3.8.0", Rejects),
        ("!=3.8", "3.8.1", Allows),
        ("!=3.8", "3.7", Allows),
        // wildcards (§1.2.1, §1.2.2)
        ("3.8.*", "3.8", Allows),
        ("3.8.*", "3.8.9", Allows),
        ("3.8.*", "3.9.0", Rejects),
        ("3.*", "3", Allows),
        ("3.*", "4", Rejects),
        ("==3.8.*", "3.8.2", Allows),
        ("==3.8.*", "3.7.9", Rejects),
        ("!=3.8.*", "3.8.5", Rejects),
        ("!=3.8.*", "3.9.0", Allows),
        ("!=3.8.*", "3.7.9", Allows),
        (">=1.2.*", "1.2.0", Allows), // wildcard dropped
        (">=1.2.*", "1.1.9", Rejects),
        ("<1.2.*", "1.2.0", Rejects),
        ("<1.2.*", "1.1.9", Allows),
        ("1.2.*", "1.2.0", Allows),
        ("1.2.*", "1.2.2", Allows),
        ("1.2.*", "1.1.6", Rejects),
        ("1.2.*", "1.6.2", Rejects),
        // pre-releases (§1.2.1 edge rules)
        ("<4", "4.0.0rc1", Rejects),
        ("<4", "4.0.0.dev1", Rejects),
        ("<4", "4.0.0a1", Rejects),
        ("<4.0.0rc1", "4.0.0a1", Allows), // the bound is itself a pre-release
        (">=3.6", "3.6.0rc1", Rejects),
        (">=3.6", "3.7.0rc1", Allows),
        ("^3.6", "3.6.0rc1", Rejects),
        ("*", "4.0.0rc1", Allows),
        ("*", "0.0.1.dev3", Allows),
        // post-releases and local labels
        (">3.8.4", "3.8.4.post1", Rejects),
        (">3.8.4", "3.8.4+local", Rejects),
        (">3.8.4", "3.8.5.post1", Allows),
        ("<=3.8.4", "3.8.4+local", Allows),
        ("<3.8.4", "3.8.4+local", Rejects),
        // leading v, and `-N` as a post-release
        ("^1.2", "v1.4", Allows),
        ("1.2.3", "1.2.3-1", Rejects),
        ("==1.2.3.post1", "1.2.3-1", Allows),
        (">1.2.3", "1.2.3-1", Rejects),
        // AND / OR
        (">=1.0, <2.0", "1.5", Allows),
        (">=1.0, <2.0", "2.0", Rejects),
        (">=1.0 <2.0", "1.5", Allows),
        (">=1.0 <2.0", "0.9", Rejects),
        (">= 1.0, < 2.0", "1.9.9", Allows),
        (">=1.0,", "1.0", Allows), // trailing comma tolerated
        ("1.3 || 2.0", "2.0", Allows),
        ("1.3 || 2.0", "1.4", Rejects),
        ("^1.0 | ^3.0", "3.2", Allows),
        ("^1.0 | ^3.0", "2.1", Rejects),
        // constraint parse errors (§1.2.1)
        ("", "1.0", BadConstraint),
        (">", "1.0", BadConstraint),
        ("^", "1.0", BadConstraint),
        ("1.3 ||", "1.3", BadConstraint),
        (">=a", "1.0", BadConstraint),
        ("1.2.x", "1.2.0", BadConstraint), // only `*` is a wildcard inside versions
        ("saruman", "1.0", BadConstraint),
        // version parse errors: a hard error, not false
        ("^3.8", "3.8.4-ubuntu0", BadVersion),
        ("^3.8", "3.8.4-0ubuntu1", BadVersion),
        ("^3.8", "3.8.4-stable", BadVersion),
    ];

    #[test]
    fn the_reference_table_of_constraints_and_versions_holds() {
        assert!(TABLE.len() >= 40);
        let mut failures = Vec::new();
        for &(constraint, version, expect) in TABLE {
            let got = match verify_requirement(version, constraint) {
                Ok(true) => Allows,
                Ok(false) => Rejects,
                Err(RequirementError::Constraint(_)) => BadConstraint,
                Err(RequirementError::Version(_)) => BadVersion,
            };
            if got != expect {
                failures.push(format!(
                    "{constraint:?} with {version:?}: expected {expect:?}, got {got:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn constraints_expand_to_the_bounds_the_reference_notes_list() {
        let cases = [
            ("^3.6", ">=3.6,<4.0"),
            ("^3", ">=3,<4"),
            ("^0.2.3", ">=0.2.3,<0.3.0"),
            ("^0.0.3", ">=0.0.3,<0.0.4"),
            ("^0.0", ">=0.0,<0.1"),
            ("^0", ">=0,<1"),
            ("^1.2.3.4", ">=1.2.3.4,<2.0.0.0"),
            ("~3.3", ">=3.3,<3.4"),
            ("~3.3.1", ">=3.3.1,<3.4.0"),
            ("~3", ">=3,<4"),
            ("~0", ">=0,<1"),
            ("~1.2.3.4", ">=1.2.3.4,<1.3.0.0"),
            ("~=3.3", ">=3.3,<4.0"),
            ("~=3.3.1", ">=3.3.1,<3.4.0"),
            ("~=1", ">=1,<1.1"),
            ("3.8.*", ">=3.8.dev0,<3.9.dev0"),
            ("!=3.8.*", "<3.8.dev0 || >=3.9.dev0"),
            (">=1.2.*", ">=1.2"),
            ("!=3.8", "<3.8 || >3.8"),
            (">=1.0 <2.0 || 3", ">=1.0,<2.0 || ==3"),
            ("v*", "*"),
        ];
        for (constraint, expanded) in cases {
            assert_eq!(
                Constraint::parse(constraint).unwrap().expanded(),
                expanded,
                "{constraint}"
            );
        }
    }

    #[test]
    fn a_malformed_constraint_error_names_the_constraint() {
        let e = Constraint::parse(">=a").unwrap_err();
        assert_eq!(e.constraint, ">=a");
        let text = e.to_string();
        assert!(
            text.starts_with("invalid version constraint \">=a\": "),
            "{text}"
        );
        let e = Constraint::parse(">=1.0, <x").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid version constraint \">=1.0, <x\": in \"<x\""),
            "{e}"
        );
        let e = Constraint::parse("1.3 ||").unwrap_err().to_string();
        assert!(e.contains("\"1.3 ||\""), "{e}");
    }

    #[test]
    fn more_malformed_constraints_fail_to_parse() {
        for bad in [
            "   ",
            "<>1.0",
            "1.0,,2.0",
            "~>1.0",
            "^1.2.*",
            ">=1.2.*.*",
            "1.2.3.4.*.*",
            "||",
            "1.0 - 2.0",
            "=",
            "!=",
        ] {
            assert!(Constraint::parse(bad).is_err(), "{bad:?} parsed");
        }
        for good in ["1.2.*.*", "x", "X.x", "*.*", ">=dev", " ^3.5 ", "1.2.3.4.*"] {
            assert!(Constraint::parse(good).is_ok(), "{good:?} failed");
        }
    }

    #[test]
    fn pre_releases_order_dev_then_alpha_beta_rc_then_final_then_post() {
        let ordered = [
            "1.0.dev0",
            "1.0.dev3",
            "1.0a1.dev1",
            "1.0a1",
            "1.0a1.post1.dev1",
            "1.0a1.post1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+abc",
            "1.0+abc.2",
            "1.0+5",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.0.1.dev1",
            "1.0.1",
            "1.0.1.1",
            "1.1",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(v(pair[1]) > v(pair[0]), "{} > {}", pair[1], pair[0]);
        }
    }

    #[test]
    fn pre_releases_map_onto_semver_pre_release_identifiers_that_order_the_same_way() {
        let cases = [
            ("4.0.0.dev1", "4.0.0-0.1"),
            ("4.0.0a1", "4.0.0-a.1"),
            ("4.0.0b2", "4.0.0-b.2"),
            ("4.0.0rc1", "4.0.0-rc.1"),
            ("4.0.0", "4.0.0"),
            ("3.8", "3.8.0"),
            ("100", "100.0.0"),
            ("3.8.4+ubuntu.1", "3.8.4+ubuntu.1"),
        ];
        let mut previous: Option<semver::Version> = None;
        for (pep440, semver_text) in cases.iter().take(5) {
            let s = v(pep440).as_semver().clone();
            assert_eq!(s.to_string(), *semver_text);
            if let Some(p) = previous {
                assert!(p < s, "semver {p} < {s}");
            }
            previous = Some(s);
        }
        for (pep440, semver_text) in &cases[5..] {
            assert_eq!(v(pep440).as_semver().to_string(), *semver_text);
        }
    }

    #[test]
    fn versions_parse_the_pep440_spellings_and_normalise() {
        let cases = [
            ("v1.2.3", "1.2.3"),
            ("V1.2.3", "1.2.3"),
            ("1.2.3-1", "1.2.3.post1"),
            ("1.2.3.post1", "1.2.3.post1"),
            ("1.2.3r2", "1.2.3.post2"),
            ("1.2.3-rev3", "1.2.3.post3"),
            ("1.0alpha1", "1.0a1"),
            ("1.0.beta.2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0-preview-1", "1.0rc1"),
            ("1.0RC", "1.0rc0"),
            ("1.0a.", "1.0a0"),
            ("1.0.dev", "1.0.dev0"),
            ("1.0_dev_7", "1.0.dev7"),
            ("2!1.0", "2!1.0"),
            ("1.0+Ubuntu-1_b", "1.0+ubuntu.1.b"),
            ("  3.8.0  ", "3.8.0"),
            ("3.8.0.0", "3.8.0.0"),
        ];
        for (input, normal) in cases {
            assert_eq!(v(input).to_string(), normal, "{input}");
        }
        assert_eq!(v("1.2.3-1").post(), Some(1));
        assert_eq!(v("3.8").release(), &[3, 8]);
        assert_eq!(
            (v("3.8").major(), v("3.8").minor(), v("3.8").patch()),
            (3, 8, 0)
        );
        assert_eq!(v("3.8"), v("3.8.0.0"));
        assert_ne!(v("3.8"), v("3.8.0.1"));
    }

    #[test]
    fn non_pep440_versions_are_errors_that_name_the_input() {
        for bad in [
            "",
            "3.8.4-ubuntu0",
            "3.8.4-0ubuntu1",
            "3.8.4-stable",
            "a",
            "1.2.x",
            "1.0+",
            "1.0+abc.",
            "1.0-",
            "1..0",
            "1!",
            "99999999999999999999999",
        ] {
            let e = Version::parse(bad).unwrap_err();
            assert_eq!(e.input, bad);
            assert!(e.to_string().starts_with("invalid version \""), "{e}");
        }
    }
}

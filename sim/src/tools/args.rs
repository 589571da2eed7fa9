//! Argument parsing with Go `gnuflag` conventions, as every jujuc tool uses: flags and
//! positionals may be interspersed, `--flag=value`, `--flag value`, `-r 3`, `-r=3`; boolean
//! flags take `--app` or `--app=true|false|1|0|t|f|True|False`; `--` ends the flags.

use std::collections::BTreeMap;

use super::ToolFail;

/// One flag a tool accepts: its names (without dashes; the first is the key) and whether it
/// takes a value.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub names: &'static [&'static str],
    pub value: bool,
}

pub const fn value(names: &'static [&'static str]) -> Flag {
    Flag { names, value: true }
}

pub const fn boolean(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        value: false,
    }
}

/// Parsed arguments: the last value of each flag (by its first name), every value of
/// repeated flags, and the positionals.
#[derive(Debug, Default, Clone)]
pub struct Args {
    pub values: BTreeMap<&'static str, String>,
    pub repeated: BTreeMap<&'static str, Vec<String>>,
    pub bools: BTreeMap<&'static str, bool>,
    pub positional: Vec<String>,
}

impl Args {
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
    /// Every value given for a repeatable flag, in order.
    pub fn all(&self, key: &str) -> &[String] {
        self.repeated
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    pub fn flag(&self, key: &str) -> bool {
        self.bools.get(key).copied().unwrap_or(false)
    }
    /// Fails like gnuflag when positionals are left over.
    pub fn no_more(&self, used: usize) -> Result<(), ToolFail> {
        if self.positional.len() > used {
            let extra: Vec<String> = self.positional[used..]
                .iter()
                .map(|a| format!("{a:?}"))
                .collect();
            return Err(ToolFail::usage(format!(
                "unrecognized args: [{}]",
                extra.join(" ")
            )));
        }
        Ok(())
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub fn parse(argv: &[String], flags: &[Flag]) -> Result<Args, ToolFail> {
    let mut out = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if a == "--" {
            out.positional.extend(argv[i..].iter().cloned());
            break;
        }
        if a == "-" || !a.starts_with('-') {
            out.positional.push(a.clone());
            continue;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let shown = &a[..a.len() - inline.as_ref().map_or(0, |v| v.len() + 1)];
        let Some(flag) = flags.iter().find(|f| f.names.contains(&name)) else {
            return Err(ToolFail::usage(format!(
                "option provided but not defined: {shown}"
            )));
        };
        let key = flag.names[0];
        if flag.value {
            let v = match inline {
                Some(v) => v,
                None => {
                    if i >= argv.len() {
                        return Err(ToolFail::usage(format!("flag needs an argument: {shown}")));
                    }
                    i += 1;
                    argv[i - 1].clone()
                }
            };
            out.repeated.entry(key).or_default().push(v.clone());
            out.values.insert(key, v);
        } else {
            let v = match inline {
                None => true,
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    ToolFail::usage(format!("invalid boolean value {v:?} for flag {shown}"))
                })?,
            };
            out.bools.insert(key, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    const FLAGS: &[Flag] = &[
        value(&["r", "relation"]),
        boolean(&["app"]),
        value(&["format"]),
    ];

    #[test]
    fn flags_and_positionals_interleave_in_every_gnuflag_spelling() {
        let a = parse(
            &argv(&["-r", "cluster:0", "-", "zk/1", "--app", "--format=json"]),
            FLAGS,
        )
        .unwrap();
        assert_eq!(a.value("r"), Some("cluster:0"));
        assert!(a.flag("app"));
        assert_eq!(a.value("format"), Some("json"));
        assert_eq!(a.positional, argv(&["-", "zk/1"]));
        let b = parse(
            &argv(&["--relation=3", "--app=False", "--format", "json", "k"]),
            FLAGS,
        )
        .unwrap();
        assert_eq!(b.value("r"), Some("3"));
        assert!(!b.flag("app"));
        assert_eq!(b.positional, argv(&["k"]));
    }

    #[test]
    fn a_double_dash_ends_the_flags() {
        let a = parse(&argv(&["--app", "--", "--format", "-r"]), FLAGS).unwrap();
        assert_eq!(a.positional, argv(&["--format", "-r"]));
        assert_eq!(a.value("format"), None);
    }

    #[test]
    fn unknown_flags_and_missing_values_are_usage_errors() {
        let e = parse(&argv(&["--foo"]), FLAGS).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (2, "option provided but not defined: --foo")
        );
        let e = parse(&argv(&["-r"]), FLAGS).unwrap_err();
        assert_eq!(e.code, 2);
        let e = parse(&argv(&["--app=maybe"]), FLAGS).unwrap_err();
        assert_eq!(e.code, 2);
    }
}

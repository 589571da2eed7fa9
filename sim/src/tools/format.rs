//! juju/cmd output formatters: `smart` (default), `yaml`, `json`.

use serde_json::Value;

use super::ToolFail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Smart,
    Yaml,
    Json,
}

impl Format {
    pub fn parse(v: Option<&str>) -> Result<Format, ToolFail> {
        match v {
            None | Some("smart") => Ok(Format::Smart),
            Some("yaml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(ToolFail::usage(format!(
                "invalid value {other:?} for option --format: unknown format {other:?}"
            ))),
        }
    }
}

/// Go's `json.Marshal`: compact, sorted keys, `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).expect("JSON value serialises");
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn yaml(v: &Value) -> String {
    let s = serde_yaml_ng::to_string(v).unwrap_or_default();
    if s.ends_with('\n') {
        s
    } else {
        s + "\n"
    }
}

/// Renders a tool's result the way juju/cmd prints it (including the final newline).
pub fn render(format: Format, v: &Value) -> String {
    match format {
        Format::Json => go_json(v) + "\n",
        Format::Yaml => match v {
            Value::Null => String::new(),
            _ => yaml(v),
        },
        Format::Smart => match v {
            Value::Null => String::new(),
            Value::String(s) if s.is_empty() => String::new(),
            Value::String(s) => format!("{s}\n"),
            Value::Bool(true) => "True\n".to_string(),
            Value::Bool(false) => "False\n".to_string(),
            Value::Number(n) => format!("{n}\n"),
            Value::Array(a) if a.iter().all(Value::is_string) => {
                if a.is_empty() {
                    String::new()
                } else {
                    a.iter()
                        .map(|s| s.as_str().unwrap_or_default().to_string() + "\n")
                        .collect()
                }
            }
            _ => yaml(v),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_compact_sorted_and_escapes_like_go() {
        let v = json!({"b": "<x&y>", "a": ["1"]});
        assert_eq!(
            render(Format::Json, &v),
            "{\"a\":[\"1\"],\"b\":\"\\u003cx\\u0026y\\u003e\"}\n"
        );
        assert_eq!(render(Format::Json, &Value::Null), "null\n");
    }

    #[test]
    fn smart_prints_strings_raw_bools_capitalised_and_lists_by_line() {
        assert_eq!(render(Format::Smart, &json!("v")), "v\n");
        assert_eq!(render(Format::Smart, &json!("")), "");
        assert_eq!(render(Format::Smart, &json!(true)), "True\n");
        assert_eq!(render(Format::Smart, &json!(["a:0", "b:1"])), "a:0\nb:1\n");
        assert_eq!(render(Format::Smart, &json!({"k": "v"})), "k: v\n");
    }
}

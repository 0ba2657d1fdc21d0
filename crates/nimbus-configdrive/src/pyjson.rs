//! JSON exactly as nova's `jsonutils.dump_as_bytes` writes it.
//!
//! Python's `json.dumps` keeps dict insertion order, separates with `", "` and `": "`, and
//! escapes everything outside printable ASCII as `\uXXXX` (`ensure_ascii`). Guests only parse the
//! JSON, but matching the bytes makes golden comparisons with nova's output exact.

use std::fmt::Write as _;

/// A JSON value whose objects keep the order their keys were inserted in, as Python dicts do.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null` (Python `None`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float, written as Python's `repr` would for the finite values we carry.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Array(Vec<Json>),
    /// A dict, in insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty dict.
    pub fn object() -> Self {
        Json::Object(Vec::new())
    }

    /// Sets `key` (replacing an earlier value in place, as a Python dict assignment does).
    pub fn set(&mut self, key: &str, value: impl Into<Json>) {
        if let Json::Object(entries) = self {
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }

    /// The value under `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Serializes as `json.dumps(value)` does.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Serializes to bytes, as `jsonutils.dump_as_bytes`.
    pub fn dump_bytes(&self) -> Vec<u8> {
        self.dump().into_bytes()
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Float(f) => write_float(*f, out),
            Json::Str(s) => write_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(k, out);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_float(f: f64, out: &mut String) {
    if !f.is_finite() {
        // Python writes NaN/Infinity (invalid JSON); serde_json input never carries them.
        out.push_str("null");
    } else if f == f.trunc() && f.abs() < 1e16 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Str(s)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Self {
        Json::Int(n)
    }
}

impl From<u32> for Json {
    fn from(n: u32) -> Self {
        Json::Int(i64::from(n))
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Self {
        Json::Array(v.into_iter().map(Into::into).collect())
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None => Json::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Json::Str(s.clone()),
            serde_json::Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            serde_json::Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Json::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&Json> for serde_json::Value {
    fn from(v: &Json) -> Self {
        match v {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Int(i) => serde_json::Value::from(*i),
            Json::Float(f) => serde_json::Value::from(*f),
            Json::Str(s) => serde_json::Value::String(s.clone()),
            Json::Array(items) => serde_json::Value::Array(items.iter().map(Into::into).collect()),
            Json::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        // Expected strings are what CPython 3's json.dumps prints for the same dict.
        let mut o = Json::object();
        o.set("uuid", "x");
        o.set("n", 1i64);
        o.set("l", vec![Json::Int(1), Json::Null, Json::Bool(true)]);
        o.set("e", Json::object());
        assert_eq!(
            o.dump(),
            r#"{"uuid": "x", "n": 1, "l": [1, null, true], "e": {}}"#
        );
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        // json.dumps("é\u{1F600}\"\\\n\x01\x7f") == '"\\u00e9\\ud83d\\ude00\\"\\\\\\n\\u0001\\u007f"'
        let s = Json::from("é\u{1F600}\"\\\n\u{1}\u{7f}");
        assert_eq!(s.dump(), r#""\u00e9\ud83d\ude00\"\\\n\u0001\u007f""#);
    }

    #[test]
    fn set_replaces_in_place() {
        let mut o = Json::object();
        o.set("a", 1i64);
        o.set("b", 2i64);
        o.set("a", 3i64);
        assert_eq!(o.dump(), r#"{"a": 3, "b": 2}"#);
    }
}

//! Template data that behaves as Docker's Go structs do under `--format`.
//!
//! `docker inspect -f` runs its template twice if it must (docker/cli's
//! `TemplateInspector`): first on the typed Go struct, then, when that
//! fails, on the raw JSON with `missingkey=error`; only when both fail is it
//! an error. The typed pass is what users meet: Go field names (`{{.ID}}`,
//! `{{.Descriptor.MediaType}}`), a nil slice printed as `[]` and a nil map
//! as `map[]`, durations as Go prints them (`30s`), and `{{json .Config}}`
//! as the struct marshals: its field order, empty fields left out,
//! durations in nanoseconds. gotmpl's values are maps and lists only, so
//! [`Builder`] makes a struct a map of its Go fields and remembers, for
//! that very value (by the address of its shared allocation), the JSON the
//! struct marshals to; the `json` template function (`template::json_of`) prints
//! that. A struct's unknown field is an error, as Go's; a user map's missing
//! key is not (`{{.Config.Labels.nope}}` prints `<no value>`): a missing key
//! met in the typed pass is added to the user maps as nil and the pass is
//! run again, and only a key still missing then is a struct's unknown field.
//!
//! Printing a whole struct (`{{.Config}}`) shows a Go map of its fields,
//! sorted, where Go shows `{value value …}` in field order; `json` shows
//! the order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use gotmpl::{TemplateError, Value};
use serde::Serialize;

use img_core::error::{Error, Kind, Result};
use img_core::template::{self, Format};

/// How many missing user-map keys a typed pass tolerates before giving up
/// (each run adds one; a template names only so many).
const MAX_MISSING_KEYS: usize = 64;

/// Typed template data and the JSON forms of its struct values.
pub struct GoData {
    value: Value,
    json: HashMap<usize, Arc<str>>,
}

/// Builds [`GoData`]: structs, nil-able slices and maps, durations.
#[derive(Default)]
pub struct Builder {
    json: HashMap<usize, Arc<str>>,
    /// Keys added (as nil) to every user map: keys the template looked up
    /// in vain on an earlier run.
    missing: BTreeSet<String>,
}

impl Builder {
    /// A builder that adds `missing` to every user map.
    pub fn new(missing: &BTreeSet<String>) -> Builder {
        Builder {
            json: HashMap::new(),
            missing: missing.clone(),
        }
    }

    /// `value`, which marshals to `json` (a value of its own allocation).
    fn remember(&mut self, value: Value, json: String) -> Value {
        if let Some(at) = template::address(&value) {
            self.json.insert(at, json.into());
        }
        value
    }

    /// A struct: its Go fields, in any order, and what it marshals to.
    pub fn object(&mut self, fields: Vec<(&str, Value)>, marshaled: &impl Serialize) -> Value {
        let map: BTreeMap<Arc<str>, Value> = fields
            .into_iter()
            .map(|(name, value)| (Arc::from(name), value))
            .collect();
        let json = serde_json::to_string(marshaled).unwrap_or_else(|_| "null".into());
        self.remember(Value::Map(Arc::new(map)), json)
    }

    /// A `[]string`: `[]` when nil, which marshals to `null`.
    pub fn strings(&mut self, items: Option<&Vec<String>>) -> Value {
        let list: Vec<Value> = items
            .into_iter()
            .flatten()
            .map(|s| Value::String(s.as_str().into()))
            .collect();
        let json = serde_json::to_string(&items).unwrap_or_else(|_| "null".into());
        self.remember(Value::List(list.into()), json)
    }

    /// A user map of strings (`Labels`, `Annotations`); nil marshals to
    /// `null`. Keys a template looked up in vain are there as nil.
    pub fn string_map(&mut self, entries: Option<&BTreeMap<String, String>>) -> Value {
        let values = entries
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, Value::String(v.as_str().into())));
        let json = serde_json::to_string(&entries).unwrap_or_else(|_| "null".into());
        let map = self.user_map(values);
        self.remember(map, json)
    }

    /// A set (`map[string]struct{}`: `ExposedPorts`, `Volumes`), whose
    /// values print as Go prints `struct{}{}`: `{}`.
    pub fn set(&mut self, keys: Option<&BTreeMap<String, serde_json::Value>>) -> Value {
        let json = serde_json::to_string(&keys).unwrap_or_else(|_| "null".into());
        let empty_struct = self.remember(Value::String("{}".into()), "{}".into());
        let values = keys
            .into_iter()
            .flatten()
            .map(|(k, _)| (k, empty_struct.clone()));
        let map = self.user_map(values);
        self.remember(map, json)
    }

    fn user_map<'a>(&self, entries: impl Iterator<Item = (&'a String, Value)>) -> Value {
        let mut map: BTreeMap<Arc<str>, Value> =
            entries.map(|(k, v)| (Arc::from(k.as_str()), v)).collect();
        for key in &self.missing {
            map.entry(Arc::from(key.as_str())).or_insert(Value::Nil);
        }
        Value::Map(Arc::new(map))
    }

    /// A `time.Duration` of `nanoseconds`: printed as Go prints it (`30s`),
    /// marshaled as the number.
    pub fn duration(&mut self, nanoseconds: i64) -> Value {
        self.remember(
            Value::String(go_duration(nanoseconds).into()),
            nanoseconds.to_string(),
        )
    }

    /// A `time.Time`: printed as Go's `String()` shows `printed`, marshaled
    /// as the RFC 3339 text `rfc3339`.
    pub fn time(&mut self, printed: &str, rfc3339: &str) -> Value {
        let json = serde_json::to_string(rfc3339).unwrap_or_else(|_| "null".into());
        self.remember(Value::String(printed.into()), json)
    }

    /// The data, with the JSON forms of its values.
    pub fn finish(self, value: Value) -> GoData {
        GoData {
            value,
            json: self.json,
        }
    }
}

/// Render `format` as `docker inspect -f` does: on the typed data `typed`
/// makes (given the user-map keys to add), then, when that fails, on the
/// raw JSON `raw`; the error is the raw pass's, as Docker reports it. A
/// template that cannot run is [`Kind::NotFound`] (exit status 1, as
/// Docker's).
pub fn render_typed_then_raw(
    format: &Format,
    typed: impl Fn(&BTreeSet<String>) -> Result<GoData>,
    raw: &Value,
) -> Result<String> {
    let mut missing = BTreeSet::new();
    loop {
        let data = typed(&missing)?;
        let result = run_with_forms(&data, |value| format.execute(value));
        match result {
            Ok(text) => return Ok(text),
            Err(TemplateError::MissingKey { key })
                if missing.len() < MAX_MISSING_KEYS && missing.insert(key.clone()) => {}
            Err(_) => break,
        }
    }
    format
        .execute(raw)
        .map_err(|e| Error::new(Kind::NotFound, format!("template parsing error: {e}")))
}

/// Run `work` with the JSON forms of `data`'s values known to the
/// template's `json` function.
fn run_with_forms<T>(data: &GoData, work: impl FnOnce(&Value) -> T) -> T {
    template::with_json_forms(data.json.clone(), || work(&data.value))
}

/// A duration as Go's `time.Duration.String()` prints it: `0s`, `1.5µs`,
/// `500ms`, `30s`, `1m30s`, `1h0m0s`.
pub fn go_duration(nanoseconds: i64) -> String {
    let sign = if nanoseconds < 0 { "-" } else { "" };
    let n = nanoseconds.unsigned_abs();
    let body = if n == 0 {
        "0s".to_string()
    } else if n < 1_000 {
        format!("{n}ns")
    } else if n < 1_000_000 {
        format!("{}µs", decimal(n, 1_000))
    } else if n < 1_000_000_000 {
        format!("{}ms", decimal(n, 1_000_000))
    } else {
        let minutes = n / 60_000_000_000;
        let seconds = format!("{}s", decimal(n % 60_000_000_000, 1_000_000_000));
        match (minutes / 60, minutes % 60) {
            (0, 0) => seconds,
            (0, m) => format!("{m}m{seconds}"),
            (h, m) => format!("{h}h{m}m{seconds}"),
        }
    };
    format!("{sign}{body}")
}

/// `value / unit` with its fraction, trailing zeros dropped.
fn decimal(value: u64, unit: u64) -> String {
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = unit.ilog10() as usize;
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go() {
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (500_000_000, "500ms"),
            (1_500_000_000, "1.5s"),
            (30_000_000_000, "30s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    fn typed(missing: &BTreeSet<String>) -> Result<GoData> {
        #[derive(Serialize)]
        struct Check {
            #[serde(rename = "Interval")]
            interval: i64,
        }
        let mut b = Builder::new(missing);
        let interval = b.duration(30_000_000_000);
        let check = b.object(
            vec![("Interval", interval)],
            &Check {
                interval: 30_000_000_000,
            },
        );
        let labels = b.string_map(Some(&BTreeMap::from([("a".into(), "1".into())])));
        let none = b.strings(None);
        let top = b.object(
            vec![("Check", check), ("Labels", labels), ("Cmd", none)],
            &serde_json::json!({"Check": {"Interval": 30_000_000_000_i64}, "Labels": {"a": "1"}}),
        );
        Ok(b.finish(top))
    }

    fn render(template: &str) -> Result<String> {
        let raw =
            img_core::template::data(&serde_json::json!({"Raw": "yes", "Labels": {"a": "1"}}))?;
        render_typed_then_raw(&Format::parse(template)?, typed, &raw)
    }

    #[test]
    fn typed_first_then_raw() {
        assert_eq!(render("{{.Check.Interval}}").unwrap(), "30s");
        assert_eq!(
            render("{{json .Check}}").unwrap(),
            r#"{"Interval":30000000000}"#
        );
        assert_eq!(render("{{json .Check.Interval}}").unwrap(), "30000000000");
        assert_eq!(render("{{.Cmd}} {{json .Cmd}}").unwrap(), "[] null");
        // a user map's missing key is no error; a struct's unknown field is,
        // unless the raw JSON has it
        assert_eq!(
            render("{{.Labels.nope}}|{{.Labels.a}}").unwrap(),
            "<no value>|1"
        );
        assert_eq!(render("{{.Raw}}").unwrap(), "yes");
        let err = render("{{.Nope}}").unwrap_err();
        assert_eq!(err.kind(), Kind::NotFound);
        assert!(
            err.to_string().starts_with("template parsing error: "),
            "{err}"
        );
        assert!(err.to_string().contains("Nope"), "{err}");
    }
}

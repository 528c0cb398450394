//! Go templates for `--format`, as the Docker CLI has them: Go's
//! `text/template` (through the `gotmpl` crate, which follows Go's output
//! rules: `[a b]` for lists, `map[k:v]` for maps) with Docker's extra
//! functions `json`, `split`, `join`, `title`, `lower`, `upper`, `pad` and
//! `truncate`. A format that starts with `table` prints a header and aligned
//! columns; the format `json` prints each item as one line of JSON. A field
//! the data lacks is an error, as a Go struct's unknown field is for Docker
//! (`template parsing error: …`, exit status 1); a template that does not
//! parse is bad usage (exit status 2).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gotmpl::{MissingKey, Template, TemplateError, Value};
use serde::Serialize;

use crate::error::{Error, Kind, Result};

/// A parsed `--format` template with Docker's functions.
pub struct Format {
    template: Template,
}

impl Format {
    /// Parse `text`; a syntax error is bad input that names the template.
    pub fn parse(text: &str) -> Result<Format> {
        let template = Template::new("format")
            .func("json", json)
            .func("split", split)
            .func("join", join)
            .func("title", title)
            .func("lower", |args| {
                map_string("lower", args, |s| s.to_lowercase())
            })
            .func("upper", |args| {
                map_string("upper", args, |s| s.to_uppercase())
            })
            .func("pad", pad)
            .func("truncate", truncate)
            .func("index", index)
            .missing_key(MissingKey::Error)
            .parse(text)
            .map_err(|e| Error::invalid(format!("template parsing error: {e}")))?;
        Ok(Format { template })
    }

    /// Render the template for one item; a field the item lacks is an
    /// error as Docker reports it.
    pub fn render(&self, item: &Value) -> Result<String> {
        self.execute(item)
            .map_err(|e| Error::new(Kind::NotFound, format!("template parsing error: {e}")))
    }

    /// Render the template for one item, failing as gotmpl does.
    pub fn execute(&self, item: &Value) -> gotmpl::Result<String> {
        self.template.execute_to_string(item)
    }
}

/// Template data for any serializable value (structs become maps).
pub fn data(value: &impl Serialize) -> Result<Value> {
    gotmpl::to_value(value).map_err(|e| Error::invalid(format!("template data: {e}")))
}

/// Set `key` in a map value (template data), replacing it.
pub fn with_key(map: &Value, key: &str, value: Value) -> Value {
    let mut entries = match map {
        Value::Map(m) => m.as_ref().clone(),
        _ => BTreeMap::new(),
    };
    entries.insert(Arc::from(key), value);
    Value::Map(Arc::new(entries))
}

/// A template value as JSON, for Docker's `json` function.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Uint(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

fn arity(name: &str, args: &[Value], expected: usize) -> gotmpl::Result<()> {
    if args.len() == expected {
        Ok(())
    } else {
        Err(TemplateError::ArgCount {
            name: name.to_string(),
            expected,
            got: args.len(),
        })
    }
}

fn string_arg<'a>(name: &str, value: &'a Value) -> gotmpl::Result<&'a str> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(TemplateError::Exec(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

fn int_arg(name: &str, value: &Value) -> gotmpl::Result<usize> {
    match value {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        Value::Uint(u) => Ok(*u as usize),
        other => Err(TemplateError::Exec(format!(
            "{name}: expected a non-negative number, got {other}"
        ))),
    }
}

thread_local! {
    /// The JSON forms of the typed values a render in progress uses (see
    /// [`with_json_forms`]).
    static JSON_FORMS: RefCell<HashMap<usize, Arc<str>>> = RefCell::new(HashMap::new());
}

/// The address that identifies a shared value (a map, list or string).
pub fn address(value: &Value) -> Option<usize> {
    match value {
        Value::Map(m) => Some(Arc::as_ptr(m) as *const () as usize),
        Value::List(l) => Some(Arc::as_ptr(l) as *const () as usize),
        Value::String(s) => Some(Arc::as_ptr(s) as *const () as usize),
        _ => None,
    }
}

/// Run `work` with `forms` (the JSON each typed value marshals to, by its
/// [`address`]) as what the `json` function prints for those values, as
/// Docker's typed template data marshals its Go structs.
pub fn with_json_forms<T>(forms: HashMap<usize, Arc<str>>, work: impl FnOnce() -> T) -> T {
    JSON_FORMS.with(|known| *known.borrow_mut() = forms);
    let result = work();
    JSON_FORMS.with(|known| known.borrow_mut().clear());
    result
}

/// The JSON a typed value marshals to, when `value` is one of the render in
/// progress (for the `json` template function).
fn json_of(value: &Value) -> Option<Arc<str>> {
    let at = address(value)?;
    JSON_FORMS.with(|forms| forms.borrow().get(&at).cloned())
}

fn json(args: &[Value]) -> gotmpl::Result<Value> {
    arity("json", args, 1)?;
    // A typed value marshals as its Go struct does.
    if let Some(text) = json_of(&args[0]) {
        return Ok(Value::String(text));
    }
    let text = serde_json::to_string(&to_json(&args[0]))
        .map_err(|e| TemplateError::Exec(format!("json: {e}")))?;
    Ok(Value::String(text.into()))
}

/// Go's `index`, where a key missing from a map gives the map's zero
/// value, `""` for the string maps templates meet (`{{index .Config.Labels
/// "nope"}}` prints nothing, as with Docker), not `<no value>`.
fn index(args: &[Value]) -> gotmpl::Result<Value> {
    let Some((first, keys)) = args.split_first() else {
        return Err(TemplateError::ArgCount {
            name: "index".into(),
            expected: 2,
            got: 0,
        });
    };
    let mut value = first.clone();
    for key in keys {
        value = match (&value, key) {
            (Value::Map(map), Value::String(k)) if !map.contains_key(k.as_ref()) => {
                Value::String("".into())
            }
            _ => value.index(key)?,
        };
    }
    Ok(value)
}

fn split(args: &[Value]) -> gotmpl::Result<Value> {
    arity("split", args, 2)?;
    let (text, sep) = (
        string_arg("split", &args[0])?,
        string_arg("split", &args[1])?,
    );
    let parts: Vec<Value> = if sep.is_empty() {
        text.chars()
            .map(|c| Value::String(c.to_string().into()))
            .collect()
    } else {
        text.split(sep).map(|p| Value::String(p.into())).collect()
    };
    Ok(Value::List(parts.into()))
}

fn join(args: &[Value]) -> gotmpl::Result<Value> {
    arity("join", args, 2)?;
    let sep = string_arg("join", &args[1])?;
    let items: Vec<String> = match &args[0] {
        Value::List(items) => items.iter().map(|v| v.to_string()).collect(),
        Value::Nil => Vec::new(),
        other => {
            return Err(TemplateError::Exec(format!(
                "join: expected a list, got {other}"
            )))
        }
    };
    Ok(Value::String(items.join(sep).into()))
}

fn title(args: &[Value]) -> gotmpl::Result<Value> {
    map_string("title", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut start = true;
        for c in s.chars() {
            if start && c.is_alphanumeric() {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            start = !c.is_alphanumeric();
        }
        out
    })
}

fn map_string(name: &str, args: &[Value], f: impl Fn(&str) -> String) -> gotmpl::Result<Value> {
    arity(name, args, 1)?;
    Ok(Value::String(f(string_arg(name, &args[0])?).into()))
}

fn pad(args: &[Value]) -> gotmpl::Result<Value> {
    arity("pad", args, 3)?;
    let text = string_arg("pad", &args[0])?;
    let (before, after) = (int_arg("pad", &args[1])?, int_arg("pad", &args[2])?);
    Ok(Value::String(
        format!("{}{text}{}", " ".repeat(before), " ".repeat(after)).into(),
    ))
}

fn truncate(args: &[Value]) -> gotmpl::Result<Value> {
    arity("truncate", args, 2)?;
    let text = string_arg("truncate", &args[0])?;
    let n = int_arg("truncate", &args[1])?;
    Ok(Value::String(
        text.chars().take(n).collect::<String>().into(),
    ))
}

/// How a program that prints rows was asked to print them: Docker's default
/// table, a custom `table …` template, `json` lines, or a bare template.
pub enum RowFormat {
    /// The program's own table.
    Default,
    /// `table TEMPLATE`: a header from the fields used, aligned columns.
    Table(Format, Vec<String>),
    /// `json`: each row as one line of JSON.
    Json,
    /// A bare template, rendered once per row.
    Plain(Format),
}

impl RowFormat {
    /// Parse a `--format` value; `headers` maps a field name (`.ID`) to its
    /// column title (`IMAGE ID`).
    pub fn parse(format: Option<&str>, headers: &[(&str, &str)]) -> Result<RowFormat> {
        let Some(text) = format.filter(|f| !f.is_empty()) else {
            return Ok(RowFormat::Default);
        };
        if text == "table" {
            return Ok(RowFormat::Default);
        }
        if text == "json" {
            return Ok(RowFormat::Json);
        }
        if let Some(body) = text.strip_prefix("table ") {
            let body = unescape_tabs(body);
            let header = render_header(&body, headers)?;
            return Ok(RowFormat::Table(Format::parse(&body)?, header));
        }
        Ok(RowFormat::Plain(Format::parse(&unescape_tabs(text))?))
    }
}

impl RowFormat {
    /// Render rows: `default` is the program's own table (header first),
    /// `items` the same rows as template data, in the same order.
    pub fn render(&self, default: &[Vec<String>], items: &[Value]) -> Result<String> {
        match self {
            RowFormat::Default => Ok(crate::format::table(default)),
            RowFormat::Table(format, header) => {
                let mut rows = vec![header.clone()];
                for item in items {
                    let line = format.render(item)?;
                    rows.push(line.split('\t').map(str::to_string).collect());
                }
                Ok(crate::format::table(&rows))
            }
            RowFormat::Json => {
                let mut out = String::new();
                for item in items {
                    out.push_str(&to_json(item).to_string());
                    out.push('\n');
                }
                Ok(out)
            }
            RowFormat::Plain(format) => {
                let mut out = String::new();
                for item in items {
                    out.push_str(&format.render(item)?);
                    out.push('\n');
                }
                Ok(out)
            }
        }
    }
}

/// Docker lets users type `\t` in a format for a tab.
fn unescape_tabs(text: &str) -> String {
    text.replace("\\t", "\t").replace("\\n", "\n")
}

/// The header row of a `table` format: the template rendered with each field
/// replaced by its column title.
fn render_header(body: &str, headers: &[(&str, &str)]) -> Result<Vec<String>> {
    let titles: BTreeMap<Arc<str>, Value> = headers
        .iter()
        .map(|(field, title)| {
            (
                Arc::from(field.trim_start_matches('.')),
                Value::String((*title).into()),
            )
        })
        .collect();
    let data = Value::Map(Arc::new(titles));
    let line = Format::parse(body)?.render(&data)?;
    Ok(line.split('\t').map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, value: serde_json::Value) -> String {
        Format::parse(template)
            .unwrap()
            .render(&data(&value).unwrap())
            .unwrap()
    }

    #[test]
    fn prints_like_go() {
        let v = serde_json::json!({"Cmd": ["sh", "-c"], "Labels": {"b": "2", "a": "1"}, "Size": 4261550});
        assert_eq!(render("{{.Cmd}}", v.clone()), "[sh -c]");
        assert_eq!(render("{{.Labels}}", v.clone()), "map[a:1 b:2]");
        assert_eq!(render("{{.Size}}", v.clone()), "4261550");
        assert_eq!(
            render("{{json .Labels}}", v.clone()),
            r#"{"a":"1","b":"2"}"#
        );
        assert_eq!(
            render("{{range .Cmd}}<{{.}}>{{end}}", v.clone()),
            "<sh><-c>"
        );
        assert_eq!(render(r#"{{index .Labels "b"}}"#, v.clone()), "2");
        assert_eq!(render(r#"[{{index .Labels "z"}}]"#, v.clone()), "[]");
        assert_eq!(render(r#"{{index .Cmd 1}}"#, v.clone()), "-c");
    }

    #[test]
    fn docker_functions() {
        let v = serde_json::json!({"S": "Hello world", "L": ["a", "b"]});
        assert_eq!(render(r#"{{join .L ","}}"#, v.clone()), "a,b");
        assert_eq!(render(r#"{{split .S " "}}"#, v.clone()), "[Hello world]");
        assert_eq!(
            render("{{upper .S}} {{lower .S}}", v.clone()),
            "HELLO WORLD hello world"
        );
        assert_eq!(
            render("{{title \"hello big world\"}}", v.clone()),
            "Hello Big World"
        );
        assert_eq!(render("{{pad .S 1 2}}|", v.clone()), " Hello world  |");
        assert_eq!(render("{{truncate .S 5}}", v.clone()), "Hello");
    }

    #[test]
    fn bad_templates_are_bad_input() {
        let err = Format::parse("{{.Foo").err().unwrap();
        assert_eq!(err.kind(), crate::Kind::InvalidInput);
        assert!(err.to_string().contains("template"), "{err}");
    }

    #[test]
    fn table_header_names_columns() {
        let RowFormat::Table(_, header) = RowFormat::parse(
            Some("table {{.ID}}\\t{{.Size}}"),
            &[("ID", "IMAGE ID"), ("Size", "SIZE")],
        )
        .unwrap() else {
            panic!("not a table")
        };
        assert_eq!(header, ["IMAGE ID", "SIZE"]);
    }
}

//! The `Config` of `img-inspect`: an image config's runtime part as current
//! Docker's API reads it (moby's `DockerOCIImageConfig`: the OCI
//! `ImageConfig` plus Docker's `Healthcheck`, `OnBuild` and `Shell`). Its
//! fields come in that struct's order, empty ones left out, as Docker
//! prints them; fields outside it (what Docker 20.10 wrote: `Hostname`,
//! `Image`, `AttachStdin`, …) are not shown, as current Docker does not.
//! A `null` in the stored config is read as absent.

use std::collections::BTreeMap;

use gotmpl::Value;
use serde::{Deserialize, Serialize};

use crate::go_data::Builder;
use img_core::error::{Error, Result};

/// What `docker image inspect` shows as `Config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    /// The user the process runs as.
    #[serde(default, skip_serializing_if = "is_empty_text")]
    pub user: Option<String>,
    /// Ports to expose (`80/tcp`), a set.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// The environment.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub env: Option<Vec<String>>,
    /// The entrypoint.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub entrypoint: Option<Vec<String>>,
    /// The command (or the entrypoint's arguments).
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub cmd: Option<Vec<String>>,
    /// Volumes, a set.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "is_empty_text")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container.
    #[serde(default, skip_serializing_if = "is_empty_text")]
    pub stop_signal: Option<String>,
    /// Windows' pre-escaped command line.
    #[serde(default, skip_serializing_if = "is_false")]
    pub args_escaped: Option<bool>,
    /// Docker's health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// ONBUILD instructions.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub on_build: Option<Vec<String>>,
    /// The shell of shell-form commands.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub shell: Option<Vec<String>>,
}

/// Docker's `HealthcheckConfig`; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// The test: `["CMD", …]`, `["CMD-SHELL", …]` or `["NONE"]`.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: Option<i64>,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: Option<i64>,
    /// Time to start before failures count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: Option<i64>,
    /// Time between checks while starting.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: Option<i64>,
    /// Failures in a row that make the container unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: Option<i64>,
}

fn is_empty_text(v: &Option<String>) -> bool {
    v.as_deref().unwrap_or_default().is_empty()
}

fn is_empty_list(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn is_empty_map<T>(v: &Option<BTreeMap<String, T>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_false(v: &Option<bool>) -> bool {
    !v.unwrap_or_default()
}

fn is_zero(v: &Option<i64>) -> bool {
    v.unwrap_or_default() == 0
}

impl InspectConfig {
    /// Read the config's `config` object (absent or `null`: empty).
    pub fn read(config: Option<&serde_json::Value>) -> Result<InspectConfig> {
        match config.filter(|c| !c.is_null()) {
            None => Ok(InspectConfig::default()),
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|e| Error::invalid(format!("the image config's runtime config: {e}"))),
        }
    }

    /// The Go struct as template data: every field, nil ones as Go prints
    /// them (`[]`, `map[]`, `<nil>`), durations as `30s`.
    pub fn template_data(&self, b: &mut Builder) -> Value {
        let text = |v: &Option<String>| Value::String(v.as_deref().unwrap_or_default().into());
        let healthcheck = match &self.healthcheck {
            None => Value::Nil,
            Some(h) => {
                let fields = vec![
                    ("Test", b.strings(h.test.as_ref())),
                    ("Interval", b.duration(h.interval.unwrap_or_default())),
                    ("Timeout", b.duration(h.timeout.unwrap_or_default())),
                    (
                        "StartPeriod",
                        b.duration(h.start_period.unwrap_or_default()),
                    ),
                    (
                        "StartInterval",
                        b.duration(h.start_interval.unwrap_or_default()),
                    ),
                    ("Retries", Value::Int(h.retries.unwrap_or_default())),
                ];
                b.object(fields, h)
            }
        };
        let fields = vec![
            ("User", text(&self.user)),
            ("ExposedPorts", b.set(self.exposed_ports.as_ref())),
            ("Env", b.strings(self.env.as_ref())),
            ("Entrypoint", b.strings(self.entrypoint.as_ref())),
            ("Cmd", b.strings(self.cmd.as_ref())),
            ("Volumes", b.set(self.volumes.as_ref())),
            ("WorkingDir", text(&self.working_dir)),
            ("Labels", b.string_map(self.labels.as_ref())),
            ("StopSignal", text(&self.stop_signal)),
            (
                "ArgsEscaped",
                Value::Bool(self.args_escaped.unwrap_or_default()),
            ),
            ("Healthcheck", healthcheck),
            ("OnBuild", b.strings(self.on_build.as_ref())),
            ("Shell", b.strings(self.shell.as_ref())),
        ];
        b.object(fields, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The Go field names of a struct value's map.
    fn fields_of(value: &Value) -> BTreeSet<String> {
        match value {
            Value::Map(m) => m.keys().map(|k| k.to_string()).collect(),
            _ => BTreeSet::new(),
        }
    }

    #[test]
    fn marshals_in_dockers_order_without_empty_fields() {
        let stored = serde_json::json!({
            "Labels": {"b": "2", "a": "1"},
            "Healthcheck": {"Retries": 2, "Interval": 30000000000_i64, "Test": ["CMD", "true"]},
            "Cmd": ["sh"],
            "Env": ["PATH=/bin"],
            "Entrypoint": null,
            "Volumes": {},
            "Hostname": "abc",
            "ExposedPorts": {"80/tcp": {}}
        });
        let config = InspectConfig::read(Some(&stored)).unwrap();
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin"],"Cmd":["sh"],"Labels":{"a":"1","b":"2"},"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"Retries":2}}"#
        );
        assert_eq!(InspectConfig::read(None).unwrap(), InspectConfig::default());
        assert!(InspectConfig::read(Some(&serde_json::json!({"Cmd": "sh"}))).is_err());
        let mut b = Builder::new(&BTreeSet::new());
        let data = config.template_data(&mut b);
        assert_eq!(fields_of(&data).len(), 13);
    }
}

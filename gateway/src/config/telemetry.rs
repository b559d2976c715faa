//! `[telemetry]`: OpenTelemetry export (traces, metrics) and the HTTP monitoring endpoints.
//!
//! The export keys mirror the standard `OTEL_*` environment variables; an empty value means
//! "not set here", so the variable (or the SDK's default) applies:
//!
//! | key            | variable it mirrors             | default when both are unset          |
//! |----------------|---------------------------------|--------------------------------------|
//! | `endpoint`     | `OTEL_EXPORTER_OTLP_ENDPOINT`   | `http://localhost:4318` (or `:4317` for gRPC) |
//! | `protocol`     | `OTEL_EXPORTER_OTLP_PROTOCOL`   | `http/protobuf`                      |
//! | `service_name` | `OTEL_SERVICE_NAME`             | `gateway`                            |
//! | `sampler`      | `OTEL_TRACES_SAMPLER`           | `parentbased_always_on`              |
//! | `sampler_arg`  | `OTEL_TRACES_SAMPLER_ARG`       | `1.0`                                |
//!
//! The HTTP paths are served by every websocket transport's HTTP server; an empty path disables
//! that endpoint.

use serde::{Deserialize, Serialize};

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Export traces and metrics over OTLP. Default: false (and `OTEL_SDK_DISABLED=true` turns it off).
    #[serde(default)]
    pub enabled: bool,
    /// The collector's base URL (`http://host:4318` for HTTP, `http://host:4317` for gRPC); for
    /// HTTP the signal paths `/v1/traces` and `/v1/metrics` are appended. Empty: from the environment.
    #[serde(default)]
    pub endpoint: String,
    /// `http/protobuf` or `grpc`. Empty: from the environment.
    #[serde(default)]
    pub protocol: String,
    /// The `service.name` resource attribute. Empty: from the environment, else `gateway`.
    #[serde(default)]
    pub service_name: String,
    /// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
    /// `parentbased_always_off` or `parentbased_traceidratio`. Empty: from the environment.
    #[serde(default)]
    pub sampler: String,
    /// The ratio (0.0–1.0) of the `…traceidratio` samplers. Empty: from the environment, else 1.0.
    #[serde(default)]
    pub sampler_arg: String,
    /// Milliseconds between OTLP metric exports. Default: 60000.
    #[serde(default = "default_metrics_interval_ms")]
    pub metrics_interval_ms: u64,
    /// Prometheus text exposition of the metrics. Default: "/metrics"; empty disables.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// Liveness: 200 while the process serves HTTP. Default: "/healthz"; empty disables.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Readiness: 200 when every component is ready, else 503. Default: "/readyz"; empty disables.
    #[serde(default = "default_ready_path")]
    pub ready_path: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            enabled: false,
            endpoint: String::new(),
            protocol: String::new(),
            service_name: String::new(),
            sampler: String::new(),
            sampler_arg: String::new(),
            metrics_interval_ms: default_metrics_interval_ms(),
            metrics_path: default_metrics_path(),
            health_path: default_health_path(),
            ready_path: default_ready_path(),
        }
    }
}

fn default_metrics_interval_ms() -> u64 {
    60_000
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_health_path() -> String {
    "/healthz".into()
}

fn default_ready_path() -> String {
    "/readyz".into()
}

/// The OTLP transports the gateway speaks.
pub const PROTOCOLS: [&str; 2] = ["http/protobuf", "grpc"];

/// The samplers `sampler` accepts (the `OTEL_TRACES_SAMPLER` values the SDK implements).
pub const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl TelemetrySettings {
    /// The endpoint paths in use (non-empty ones).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        [&self.metrics_path, &self.health_path, &self.ready_path]
            .into_iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }

    /// What is wrong, as `(key, reason)` pairs (see `validate`).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut error = |key: &str, reason: String| out.push((format!("telemetry.{key}"), reason));
        if !self.protocol.is_empty() && !PROTOCOLS.contains(&self.protocol.as_str()) {
            error("protocol", format!("'{}' is not one of {}", self.protocol, PROTOCOLS.join(", ")));
        }
        let url = |e: &str| e.starts_with("http://") || e.starts_with("https://");
        if !(self.endpoint.is_empty() || url(&self.endpoint)) {
            error("endpoint", format!("'{}' is not an http:// or https:// URL", self.endpoint));
        }
        if !self.sampler.is_empty() && !SAMPLERS.contains(&self.sampler.as_str()) {
            error("sampler", format!("'{}' is not one of {}", self.sampler, SAMPLERS.join(", ")));
        }
        if !self.sampler_arg.is_empty() && !matches!(self.sampler_arg.parse::<f64>(), Ok(r) if (0.0..=1.0).contains(&r))
        {
            error("sampler_arg", format!("'{}' is not a ratio between 0.0 and 1.0", self.sampler_arg));
        }
        if self.metrics_interval_ms == 0 {
            error("metrics_interval_ms", "must be above 0".into());
        }
        for (key, path) in
            [("metrics_path", &self.metrics_path), ("health_path", &self.health_path), ("ready_path", &self.ready_path)]
        {
            if !path.is_empty() && !path.starts_with('/') {
                error(key, format!("'{path}' must start with '/' (or be empty to disable)"));
            }
        }
        let mut seen = Vec::new();
        for path in self.paths() {
            if seen.contains(&path) {
                out.push(("telemetry".into(), format!("path '{path}' is used twice")));
            }
            seen.push(path);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_serve_the_three_paths() {
        let t = TelemetrySettings::default();
        assert!(t.problems().is_empty());
        assert_eq!(t.paths().collect::<Vec<_>>(), ["/metrics", "/healthz", "/readyz"]);
    }

    #[test]
    fn problems_name_their_key() {
        let t = TelemetrySettings {
            protocol: "http/json".into(),
            endpoint: "collector:4317".into(),
            sampler: "sometimes".into(),
            sampler_arg: "2".into(),
            metrics_path: "metrics".into(),
            health_path: "/readyz".into(),
            ..TelemetrySettings::default()
        };
        let keys: Vec<String> = t.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "telemetry.protocol",
                "telemetry.endpoint",
                "telemetry.sampler",
                "telemetry.sampler_arg",
                "telemetry.metrics_path",
                "telemetry"
            ]
        );
    }
}

//! OTLP export: the span and metric exporters `[telemetry]` (or the `OTEL_*` variables) ask for,
//! each wrapped so that a dead collector is reported once, not once per batch.
//!
//! Spans go through the SDK's batch processor, which runs on its own thread: the router only
//! hands ended spans to a bounded queue and never waits on the network; when the queue is full
//! spans are dropped. Metrics are pushed by a periodic reader on its own thread as well.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_otlp::{ExporterBuildError, Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{Sampler, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing::{info, warn};

use crate::config::TelemetrySettings;

/// The OTLP transport in use: the `protocol` key, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else HTTP.
pub fn protocol(settings: &TelemetrySettings) -> Protocol {
    let from_env = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_default();
    let chosen = if settings.protocol.is_empty() { from_env.as_str() } else { settings.protocol.as_str() };
    match chosen {
        "grpc" => Protocol::Grpc,
        _ => Protocol::HttpBinary,
    }
}

/// Whether OTLP export is on: `enabled`, unless `OTEL_SDK_DISABLED=true`.
pub fn enabled(settings: &TelemetrySettings) -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    settings.enabled && !disabled
}

/// For HTTP the configured base URL gets the signal's path, as `OTEL_EXPORTER_OTLP_ENDPOINT` does.
fn endpoint(settings: &TelemetrySettings, protocol: Protocol, signal_path: &str) -> Option<String> {
    let base = settings.endpoint.trim_end_matches('/');
    match (base.is_empty(), protocol) {
        (true, _) => None,
        (false, Protocol::Grpc) => Some(base.to_owned()),
        (false, _) => Some(format!("{base}{signal_path}")),
    }
}

/// The span exporter. gRPC needs a tokio runtime here (the channel's worker is spawned on it).
pub fn span_exporter(settings: &TelemetrySettings) -> Result<impl SpanExporter, ExporterBuildError> {
    let protocol = protocol(settings);
    let endpoint = endpoint(settings, protocol, "/v1/traces");
    let exporter = match protocol {
        Protocol::Grpc => {
            let mut b = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_protocol(protocol);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()?
        }
        _ => {
            let mut b = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(protocol);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()?
        }
    };
    Ok(ReportOnce::new(exporter, "traces"))
}

/// The metric exporter, same rules as [`span_exporter`].
pub fn metric_exporter(settings: &TelemetrySettings) -> Result<impl PushMetricExporter, ExporterBuildError> {
    let protocol = protocol(settings);
    let endpoint = endpoint(settings, protocol, "/v1/metrics");
    let exporter = match protocol {
        Protocol::Grpc => {
            let mut b = opentelemetry_otlp::MetricExporter::builder().with_tonic().with_protocol(protocol);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()?
        }
        _ => {
            let mut b = opentelemetry_otlp::MetricExporter::builder().with_http().with_protocol(protocol);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()?
        }
    };
    Ok(ReportOnce::new(exporter, "metrics"))
}

/// The resource: `service.name` from `service_name`, else `OTEL_SERVICE_NAME`, else `gateway`;
/// `OTEL_RESOURCE_ATTRIBUTES` is honoured by the SDK.
pub fn resource(settings: &TelemetrySettings) -> Resource {
    let builder =
        Resource::builder().with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    let from_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty());
    if !settings.service_name.is_empty() {
        builder.with_service_name(settings.service_name.clone()).build()
    } else if from_env {
        builder.build()
    } else {
        builder.with_service_name("gateway").build()
    }
}

/// The sampler `sampler`/`sampler_arg` name; `None` leaves the SDK's (`OTEL_TRACES_SAMPLER`).
/// The values were validated with the settings.
pub fn sampler(settings: &TelemetrySettings) -> Option<Sampler> {
    let ratio = || {
        let arg = if settings.sampler_arg.is_empty() {
            std::env::var("OTEL_TRACES_SAMPLER_ARG").unwrap_or_default()
        } else {
            settings.sampler_arg.clone()
        };
        arg.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).unwrap_or(1.0)
    };
    let sampler = match settings.sampler.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()))),
        _ => return None,
    };
    Some(sampler)
}

/// An exporter that logs the first failed export (and the recovery), not every one.
#[derive(Debug)]
pub struct ReportOnce<E> {
    inner: E,
    signal: &'static str,
    failing: AtomicBool,
}

impl<E> ReportOnce<E> {
    fn new(inner: E, signal: &'static str) -> Self {
        ReportOnce { inner, signal, failing: AtomicBool::new(false) }
    }

    fn note(&self, result: &OTelSdkResult) {
        match result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => warn!(
                signal = self.signal,
                cause = %e,
                "cannot export to the OpenTelemetry collector; dropping telemetry until it answers"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                info!(signal = self.signal, "the OpenTelemetry collector answers again")
            }
            _ => {}
        }
    }
}

impl<E: SpanExporter> SpanExporter for ReportOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.note(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for ReportOnce<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.note(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints_get_the_signal_path_grpc_ones_do_not() {
        let s = TelemetrySettings { endpoint: "http://collector:4318/".into(), ..TelemetrySettings::default() };
        assert_eq!(
            endpoint(&s, Protocol::HttpBinary, "/v1/traces").as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(endpoint(&s, Protocol::Grpc, "/v1/traces").as_deref(), Some("http://collector:4318"));
        assert_eq!(endpoint(&TelemetrySettings::default(), Protocol::HttpBinary, "/v1/traces"), None);
    }

    #[test]
    fn configured_samplers_are_built() {
        let s = |name: &str, arg: &str| TelemetrySettings {
            sampler: name.into(),
            sampler_arg: arg.into(),
            ..TelemetrySettings::default()
        };
        assert!(matches!(sampler(&s("always_off", "")), Some(Sampler::AlwaysOff)));
        assert!(matches!(sampler(&s("traceidratio", "0.25")), Some(Sampler::TraceIdRatioBased(r)) if r == 0.25));
        assert!(sampler(&s("", "")).is_none());
    }
}

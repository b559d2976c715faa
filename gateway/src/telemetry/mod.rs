//! Telemetry: logs, OpenTelemetry traces and metrics, and health.
//!
//! ## Layout
//! - [`logs`]: the `tracing` subscriber (text or JSON, `RUST_LOG` or `[log] level`).
//! - [`observer`]: the router's [`Observer`]: spans per CALL and PUBLISH, call and event metrics.
//! - [`connection`]: what a transport connection reports: messages in/out, slow consumers, and the
//!   session span (join → leave) whose ids go into the connection's log lines.
//! - [`metrics`]: the router and transport instruments and the Prometheus exposition.
//! - [`bridge`]: the database bridges' instruments behind [`wamp::monitor::BridgeMonitor`].
//! - [`health`]: the readiness registry behind `/readyz`.
//! - [`http`]: the `/metrics`, `/healthz` and `/readyz` handlers.
//! - [`export`]: OTLP exporters (HTTP/protobuf or gRPC), sampler and resource from `[telemetry]`.
//!
//! [`Telemetry`] ties them together for one application: built from `[telemetry]`, it hands the
//! router its observer (the zero-cost [`Unobserved`] when neither export nor `/metrics` is on),
//! the transports their per-connection handles and the HTTP endpoints their data.

pub mod bridge;
pub mod connection;
pub mod export;
pub mod health;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod observer;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use thiserror::Error;
use wamp::router::observe::{Observer, Unobserved};

use crate::config::TelemetrySettings;
pub use bridge::BridgeMetrics;
pub use connection::ConnectionTelemetry;
pub use health::{Readiness, ReadinessReport, ReadyHandle};
pub use logs::init;
pub use metrics::Metrics;
pub use observer::GatewayObserver;

/// The instrumentation scope of everything the gateway records.
const SCOPE: &str = "gateway";

/// Why telemetry could not start.
#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("telemetry: cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("telemetry: cannot build the Prometheus exporter: {0}")]
    Prometheus(String),
}

/// One application's telemetry; cheap to clone.
#[derive(Clone)]
pub struct Telemetry(Arc<Inner>);

struct Inner {
    settings: TelemetrySettings,
    tracer_provider: Option<SdkTracerProvider>,
    tracer: Option<SdkTracer>,
    meter_provider: Option<SdkMeterProvider>,
    registry: Option<prometheus::Registry>,
    metrics: Option<Arc<Metrics>>,
    bridges: Option<Arc<bridge::BridgeInstruments>>,
    readiness: Readiness,
}

impl Telemetry {
    /// Starts what `settings` asks for. With OTLP export on, this must run inside a tokio
    /// runtime (the gRPC exporter's channel lives on it).
    pub fn start(settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
        let export = export::enabled(settings);
        let tracer_provider = if export {
            let mut builder = SdkTracerProvider::builder()
                .with_batch_exporter(export::span_exporter(settings)?)
                .with_resource(export::resource(settings));
            if let Some(sampler) = export::sampler(settings) {
                builder = builder.with_sampler(sampler);
            }
            Some(builder.build())
        } else {
            None
        };
        let registry = (!settings.metrics_path.is_empty()).then(prometheus::Registry::new);
        let meter_provider = if export || registry.is_some() {
            let mut builder = SdkMeterProvider::builder().with_resource(export::resource(settings));
            if let Some(registry) = &registry {
                let reader = opentelemetry_prometheus::exporter()
                    .with_registry(registry.clone())
                    .scope_info_enabled(false)
                    .build()
                    .map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
                builder = builder.with_reader(reader);
            }
            if export {
                let reader = PeriodicReader::builder(export::metric_exporter(settings)?)
                    .with_interval(Duration::from_millis(settings.metrics_interval_ms))
                    .build();
                builder = builder.with_reader(reader);
            }
            Some(builder.build())
        } else {
            None
        };
        let meter = meter_provider.as_ref().map(|p| p.meter(SCOPE));
        Ok(Telemetry(Arc::new(Inner {
            settings: settings.clone(),
            tracer: tracer_provider.as_ref().map(|p| p.tracer(SCOPE)),
            tracer_provider,
            metrics: meter.as_ref().map(|m| Arc::new(Metrics::new(m))),
            bridges: meter.as_ref().map(|m| Arc::new(bridge::BridgeInstruments::new(m))),
            meter_provider,
            registry,
            readiness: Readiness::default(),
        })))
    }

    /// Telemetry that records nothing (no export, no `/metrics`); readiness still works.
    pub fn off() -> Telemetry {
        let settings = TelemetrySettings { metrics_path: String::new(), ..TelemetrySettings::default() };
        Telemetry::start(&settings).expect("nothing to build when everything is off")
    }

    pub fn settings(&self) -> &TelemetrySettings {
        &self.0.settings
    }

    /// The router's observer: [`Unobserved`] when there is nothing to record.
    pub fn observer(&self) -> Arc<dyn Observer> {
        if self.0.tracer.is_none() && self.0.metrics.is_none() {
            return Arc::new(Unobserved);
        }
        Arc::new(GatewayObserver { tracer: self.0.tracer.clone(), metrics: self.0.metrics.clone() })
    }

    /// What one connection of `transport` (`websocket`, `rawsocket`) reports through.
    pub fn connection(&self, transport: &'static str) -> ConnectionTelemetry {
        ConnectionTelemetry::new(transport, self.0.tracer.clone(), self.0.metrics.clone())
    }

    pub fn readiness(&self) -> &Readiness {
        &self.0.readiness
    }

    /// A database bridge's monitor (pass it to the bridge as `Arc<dyn BridgeMonitor>`): its
    /// readiness component is `bridge:KIND:NAME`, not ready until the bridge says so.
    pub fn bridge(&self, kind: &str, name: &str) -> BridgeMetrics {
        let label = format!("{kind}:{name}");
        let ready = self.0.readiness.register(format!("bridge:{label}"));
        let instruments = match &self.0.bridges {
            Some(i) => i.clone(),
            // Instruments of a no-op meter: nothing is recorded, nothing allocated per call.
            None => {
                Arc::new(bridge::BridgeInstruments::new(&opentelemetry::metrics::NoopMeterProvider::new().meter(SCOPE)))
            }
        };
        BridgeMetrics::new(instruments, label, ready)
    }

    /// What a database bridge reports through: its [`BridgeMetrics`] (metrics, readiness
    /// component `bridge:KIND:NAME`) and, with trace export on, the tracer of its database call
    /// spans (children of the router's call spans). With telemetry off there is no tracer.
    pub fn bridge_monitoring(&self, kind: &str, name: &str) -> ::bridge::Monitoring {
        ::bridge::Monitoring { monitor: Arc::new(self.bridge(kind, name)), tracer: self.db_tracer() }
    }

    /// The tracer of database call spans, boxed for the bridge crates (which know only the
    /// OpenTelemetry API); `None` when traces are not exported.
    pub fn db_tracer(&self) -> Option<Arc<opentelemetry::global::BoxedTracer>> {
        let provider = self.0.tracer_provider.as_ref()?;
        Some(Arc::new(opentelemetry::global::BoxedTracer::new(Box::new(provider.tracer(SCOPE)))))
    }

    /// The Prometheus text exposition, when `/metrics` is on.
    pub fn render_metrics(&self) -> Option<Result<String, prometheus::Error>> {
        self.0.registry.as_ref().map(metrics::render)
    }

    /// Exports every ended span and the current metrics now. Blocks until the exporters answer
    /// (or time out): call it from a blocking thread.
    pub fn flush(&self) {
        if let Some(p) = &self.0.tracer_provider {
            let _ = p.force_flush();
        }
        if let Some(p) = &self.0.meter_provider {
            let _ = p.force_flush();
        }
    }

    /// Flushes and stops the exporters. Blocks like [`Telemetry::flush`].
    pub fn shutdown(&self) {
        if let Some(p) = &self.0.tracer_provider {
            let _ = p.shutdown();
        }
        if let Some(p) = &self.0.meter_provider {
            let _ = p.shutdown();
        }
    }
}

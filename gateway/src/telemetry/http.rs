//! The monitoring endpoints, added to a transport's actix `App` with [`routes`]:
//!
//! - `GET /metrics`: Prometheus text format 0.0.4 (404 when `metrics_path` is empty).
//! - `GET /healthz`: `200 {"status":"alive"}` while the process serves HTTP.
//! - `GET /readyz`: `{"ready":bool,"components":{NAME:{"ready":bool,"detail":"…"}}}`, 200 when
//!   every component is ready, else 503.

use actix_web::{web, HttpResponse};
use serde_json::json;
use tracing::warn;

use super::Telemetry;

/// The content type Prometheus expects for the text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Adds the enabled endpoints (paths from `[telemetry]`) to an actix app.
pub fn routes(cfg: &mut web::ServiceConfig, telemetry: &Telemetry) {
    let settings = telemetry.settings().clone();
    cfg.app_data(web::Data::new(telemetry.clone()));
    if !settings.metrics_path.is_empty() {
        cfg.route(&settings.metrics_path, web::get().to(metrics));
    }
    if !settings.health_path.is_empty() {
        cfg.route(&settings.health_path, web::get().to(healthz));
    }
    if !settings.ready_path.is_empty() {
        cfg.route(&settings.ready_path, web::get().to(readyz));
    }
}

async fn metrics(telemetry: web::Data<Telemetry>) -> HttpResponse {
    match telemetry.render_metrics() {
        Some(Ok(body)) => HttpResponse::Ok().content_type(PROMETHEUS_TEXT).body(body),
        Some(Err(e)) => {
            warn!(cause = %e, "cannot render the metrics");
            HttpResponse::InternalServerError().body("cannot render the metrics\n")
        }
        None => HttpResponse::NotFound().finish(),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

async fn readyz(telemetry: web::Data<Telemetry>) -> HttpResponse {
    let report = telemetry.readiness().report();
    let mut response = if report.ready { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    response.json(report)
}

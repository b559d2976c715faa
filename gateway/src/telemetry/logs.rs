//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `RUST_LOG` or `[log] level`.
//!
//! Every log line of a connection is inside its `session` span, whose `trace_id` and `span_id`
//! fields hold the OpenTelemetry session span's ids once the session joined (see
//! [`super::connection`]), so logs and traces join on them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set and valid, wins over `[log] level`.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a log file or a test's pipe.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // `try_init` because tests may install a subscriber first; the first one wins.
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

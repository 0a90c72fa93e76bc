//! Prometheus metrics: a process-wide recorder installed once, rendered at `GET /metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (first call only) and returns the handle that renders it.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

pub fn message_stored() {
    metrics::counter!("chatdesk_messages_stored_total").increment(1);
}

pub fn record_write_batch(size: usize, took: Duration) {
    metrics::histogram!("chatdesk_write_batch_size").record(size as f64);
    metrics::histogram!("chatdesk_store_latency_seconds").record(took.as_secs_f64());
}

pub fn connection_opened(ns: &'static str) {
    metrics::gauge!("chatdesk_connections", "namespace" => ns).increment(1.0);
    metrics::counter!("chatdesk_connections_total", "namespace" => ns).increment(1);
}

pub fn connection_closed(ns: &'static str) {
    metrics::gauge!("chatdesk_connections", "namespace" => ns).decrement(1.0);
}

pub fn rate_limited(kind: &'static str) {
    metrics::counter!("chatdesk_rate_limited_total", "kind" => kind).increment(1);
}

pub fn ai_stream_error() {
    metrics::counter!("chatdesk_ai_stream_errors_total").increment(1);
}

pub fn message_delivered(recipients: u64) {
    metrics::counter!("chatdesk_messages_delivered_total").increment(recipients);
}

/// The database breaker opened (`true`) or closed.
pub fn db_breaker(open: bool) {
    metrics::gauge!("chatdesk_db_breaker_open").set(if open { 1.0 } else { 0.0 });
    if open {
        metrics::counter!("chatdesk_db_outages_total").increment(1);
    }
}

/// Sockets disconnected because their outgoing buffer was full (they resume on reconnect).
pub fn slow_clients_disconnected(n: u64) {
    metrics::counter!("chatdesk_slow_clients_disconnected_total").increment(n);
}

/// A Redis operation that failed (`op`: `broadcast`, `relay`, `cancel`, `presence`).
pub fn redis_failure(op: &'static str) {
    metrics::counter!("chatdesk_redis_failures_total", "op" => op).increment(1);
}

/// Whether this node's broadcasts reach Redis (1) or not (0).
pub fn redis_up(up: bool) {
    metrics::gauge!("chatdesk_redis_up").set(if up { 1.0 } else { 0.0 });
}

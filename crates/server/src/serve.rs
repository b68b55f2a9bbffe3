//! The listening loop: the router under hyper's HTTP/1 server, with the limits `axum::serve`
//! does not set. Without a timer, hyper never times a request's head out: 500 connections
//! sending nothing, or a byte every five seconds, stayed open for minutes. Here
//!
//! - a request's head must arrive whole within `header_read_timeout` (which also ends a kept-alive
//!   connection idle that long between requests);
//! - at most `max_connections` are served at once: beyond, a connection is answered `503` with
//!   problem details and closed, so a flood costs a few bytes each, not a task and a buffer;
//! - on shutdown, connections finish the request under way and close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// How connections are bounded (`[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request's head (request line and headers) must arrive within this; a kept-alive
    /// connection idle this long is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// hyper's read buffer, which a request's head must fit in: a larger head is refused by
    /// hyper itself, with a bare 431 (no body) and the connection closed, before any layer of
    /// ours sees it. Larger than `HttpLimits`' header and URI limits (`head_buffer_for`), so
    /// every head up to well beyond them gets our refusal, with problem details. (hyper also
    /// refuses a URI over 65,534 bytes with a bare 414, and more than 100 header fields with a
    /// bare 431, whatever this buffer.)
    pub head_buffer_bytes: usize,
}

/// hyper's own default read buffer (8 KiB + 400 KiB), and its floor.
const HYPER_BUFFER: usize = 8192 + 4096 * 100;
const HYPER_MIN_BUFFER: usize = 8192;

impl ConnectionLimits {
    /// A read buffer in which every head our limits refuse (and a good deal beyond) fits, so
    /// that our layer answers it: hyper's default, or more when the limits are larger.
    pub fn head_buffer_for(limits: &crate::HttpLimits) -> usize {
        let ours = limits.headers_total_bytes.saturating_add(limits.uri_bytes);
        HYPER_BUFFER.max(ours.saturating_mul(2).saturating_add(64 * 1024))
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            head_buffer_bytes: ConnectionLimits::head_buffer_for(&crate::HttpLimits::default()),
        }
    }
}

/// What a connection beyond the cap reads before it is closed.
const BUSY: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 116\r\n\r\n{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"too many connections; retry in a moment\"}";

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections finish
/// their request under way (at most `grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            // Out of file descriptors, a connection reset before accept: the listener goes on.
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Finished connections leave the set as they go.
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY.as_bytes())).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut closed = closed.clone();
        let header_read_timeout = limits.header_read_timeout;
        // hyper panics below its floor.
        let head_buffer = limits.head_buffer_bytes.max(HYPER_MIN_BUFFER);
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).keep_alive(true).max_buf_size(head_buffer);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    changed = closed.changed() => {
                        connection.as_mut().graceful_shutdown();
                        if changed.is_err() {
                            let _ = connection.as_mut().await;
                            break;
                        }
                    }
                }
            }
        });
    }
    let _ = closing.send(true);
    let _ = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_well_formed() {
        let (head, body) = BUSY.split_once("\r\n\r\n").expect("a head and a body");
        let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|n| n.parse().ok()).expect("length");
        assert_eq!(body.len(), length);
        let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(problem["status"], 503);
    }
}

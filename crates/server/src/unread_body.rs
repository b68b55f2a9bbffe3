//! The body of a request answered before it was read to its end.
//!
//! Carnet refuses some uploads without reading their body (a wrong INS check key, no token, a
//! declared length over the limit) or half-way (a malformed first part). hyper then closes the
//! connection once the answer is written — without saying so in it — and a client that sends its
//! next request on that kept-alive connection loses it ("remote end closed connection without
//! response"). So [`keep_connection`] reads and drops what is left of such a body, up to
//! [`DRAIN_BYTES`] within [`DRAIN_TIME`], and the connection goes on; when more is left, the
//! answer carries `Connection: close`, so the client knows to open another one.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// The most of an unread body read to keep its connection: a few refused small uploads cost less
/// than the new connections (and TLS handshakes) they would otherwise need.
pub const DRAIN_BYTES: u64 = 4 << 20;
/// How long the client gets to send that remainder.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);
/// Beyond the bound, the connection closes; until then what keeps arriving is read and dropped
/// (up to this much, this long), so the close is not a reset that could destroy the answer
/// before the client has read it.
const LINGER_BYTES: u64 = 64 << 20;
const LINGER_TIME: Duration = Duration::from_secs(30);

/// The middleware: see the module's documentation.
pub async fn keep_connection(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    // Most requests have no body; `Connection` means nothing to HTTP/2.
    if body.is_end_stream() || parts.version > Version::HTTP_11 {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let awaits_continue =
        parts.headers.get(header::EXPECT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let left: Slot = Arc::new(Mutex::new(None));
    let body = Body::new(Watched { inner: Some(body), read: 0, ended: false, left: left.clone() });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let unread = left.lock().ok().and_then(|mut slot| slot.take());
    let Some((mut rest, read)) = unread else {
        // Read to its end (or still held by whoever reads it): nothing to do.
        return response;
    };
    // A client waiting for `100 Continue` has sent nothing yet: asking for the body only to
    // drop it would waste its upload.
    let untouched = awaits_continue && read == 0;
    let beyond = untouched || declared.is_some_and(|n| n.saturating_sub(read) > DRAIN_BYTES);
    if !beyond && drain(&mut rest, DRAIN_BYTES, DRAIN_TIME).await {
        return response;
    }
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    if !untouched {
        tokio::spawn(async move { drain(&mut rest, LINGER_BYTES, LINGER_TIME).await });
    }
    response
}

/// Reads and drops the rest of a body; whether it ended within `budget` bytes and `time`.
async fn drain(rest: &mut Body, budget: u64, time: Duration) -> bool {
    let read_to_end = async {
        let mut left = budget;
        while let Some(frame) = rest.frame().await {
            let Ok(frame) = frame else { return false };
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            if n > left {
                return false;
            }
            left -= n;
        }
        true
    };
    tokio::time::timeout(time, read_to_end).await.unwrap_or(false)
}

/// The unread rest of a body and how much of it was read, left by a dropped [`Watched`].
type Slot = Arc<Mutex<Option<(Body, u64)>>>;

/// The request body as handlers see it: dropped before its end, it leaves the rest in the slot
/// instead of dropping it (which would close the connection).
struct Watched {
    inner: Option<Body>,
    /// Bytes handed out so far.
    read: u64,
    ended: bool,
    left: Slot,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.read += n;
            }
            // The end, or a broken body (the connection is gone): nothing left to read.
            Poll::Ready(None | Some(Err(_))) => self.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(HttpBody::size_hint).unwrap_or_default()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Some(inner) = self.inner.take().filter(|b| !b.is_end_stream())
            && let Ok(mut slot) = self.left.lock()
        {
            *slot = Some((inner, self.read));
        }
    }
}

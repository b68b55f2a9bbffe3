//! The listening loop's limits, over real TCP: a request's head that trickles in, or never
//! comes, is cut off after the header timeout; a kept-alive connection idle that long closes;
//! beyond the connection cap a client reads a 503 with problem details at once; and ordinary
//! clients, kept alive, are served throughout.

use std::time::{Duration, Instant};

use carnet_server::serve::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestApp};

/// A served app with `limits`; its address. The server stops when the test's runtime ends.
async fn served(limits: ConnectionLimits) -> (TestApp, std::net::SocketAddr) {
    let app = TestApp::new(Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let router = app.router.clone();
    tokio::spawn(serve(listener, router, limits, std::future::pending(), Duration::from_secs(1)));
    (app, addr)
}

/// Reads until the server closes the connection (or `within` passes): what it sent, and whether
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: carnet\r\n\r\n";

#[tokio::test]
async fn a_head_that_trickles_in_or_never_comes_is_cut_off() {
    let (_app, addr) =
        served(ConnectionLimits { header_read_timeout: Duration::from_secs(1), max_connections: 16, ..ConnectionLimits::default() }).await;
    // Nothing at all.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(closed, "a silent connection is closed");
    assert!(started.elapsed() < Duration::from_secs(5), "within the header timeout (1 s), not {:?}", started.elapsed());
    // A byte every 200 ms: each byte on time, the head never whole.
    let mut trickle = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for byte in b"GET /health HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle().take(100) {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let (_, closed) = read_until_closed(&mut trickle, Duration::from_secs(3)).await;
    assert!(cut || closed, "a trickled head is cut off");
    assert!(started.elapsed() < Duration::from_secs(8), "after the header timeout, not {:?}", started.elapsed());
}

#[tokio::test]
async fn a_kept_alive_connection_serves_requests_then_closes_when_idle() {
    let (_app, addr) =
        served(ConnectionLimits { header_read_timeout: Duration::from_secs(1), max_connections: 16, ..ConnectionLimits::default() }).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    for _ in 0..3 {
        client.write_all(HEALTH).await.expect("write");
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await.expect("an answer").expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    }
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut client, Duration::from_secs(10)).await;
    assert!(closed && started.elapsed() < Duration::from_secs(5), "an idle kept-alive connection closes: {:?}", started.elapsed());
}

#[tokio::test]
async fn beyond_the_connection_cap_a_client_reads_a_503_at_once() {
    let (_app, addr) =
        served(ConnectionLimits { header_read_timeout: Duration::from_secs(30), max_connections: 2, ..ConnectionLimits::default() }).await;
    // Two connections hold the two places (idle, well within the header timeout).
    let held = [TcpStream::connect(addr).await.expect("connect"), TcpStream::connect(addr).await.expect("connect")];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(closed, "closed after its answer");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("too many connections"), "{answer}");
    // A place freed, a client is served again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut next = TcpStream::connect(addr).await.expect("connect");
    next.write_all(HEALTH).await.expect("write");
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), next.read(&mut buf)).await.expect("an answer").expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
}

/// Sends `head` (a whole request head) on a new connection: what the server answered before
/// closing.
async fn answer_to(addr: std::net::SocketAddr, head: &[u8]) -> String {
    let mut client = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before it has read everything: a refused write is fine.
    let _ = client.write_all(head).await;
    let (answer, closed) = read_until_closed(&mut client, Duration::from_secs(10)).await;
    assert!(closed, "the connection closes after a refused head: {answer}");
    answer
}

/// Heads over our limits, up to far beyond them, reach our refusal layer through hyper's read
/// buffer: a 100 KB header gets 431 and a 20 KB URI 414, both with problem details. What hyper
/// refuses itself (a URI over 65,534 bytes; a head over its buffer) gets its bare status, no
/// body, and the connection closed — the documented remainder.
#[tokio::test]
async fn oversized_heads_get_problem_details_up_to_hypers_own_limits() {
    let (_app, addr) = served(ConnectionLimits::default()).await;
    let header = format!("GET /health HTTP/1.1\r\nhost: carnet\r\nx-filler: {}\r\n\r\n", "a".repeat(100 * 1024));
    let answer = answer_to(addr, header.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("larger than this server accepts"), "{answer}");

    let uri = format!("GET /health?q={} HTTP/1.1\r\nhost: carnet\r\n\r\n", "u".repeat(20 * 1024));
    let answer = answer_to(addr, uri.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("URI is longer than this server accepts"), "{answer}");
    let fine = format!("GET /health?q={} HTTP/1.1\r\nhost: carnet\r\nconnection: close\r\n\r\n", "u".repeat(8 * 1024));
    assert!(answer_to(addr, fine.as_bytes()).await.starts_with("HTTP/1.1 200"), "an 8 KB URI is served");

    // Beyond what hyper reads: its own bare refusals.
    let huge_uri = format!("GET /health?q={} HTTP/1.1\r\nhost: carnet\r\n\r\n", "u".repeat(100 * 1024));
    let answer = answer_to(addr, huge_uri.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414") && answer.to_ascii_lowercase().contains("content-length: 0"), "{answer}");
    let huge_header = format!("GET /health HTTP/1.1\r\nhost: carnet\r\nx-filler: {}\r\n\r\n", "a".repeat(600 * 1024));
    let answer = answer_to(addr, huge_header.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431") && answer.to_ascii_lowercase().contains("content-length: 0"), "{answer}");
}

/// Larger header limits get a larger read buffer, so that our layer still sees the heads it refuses.
#[test]
fn the_read_buffer_grows_with_the_header_limits() {
    let default = ConnectionLimits::head_buffer_for(&carnet_server::HttpLimits::default());
    assert_eq!(default, 8192 + 4096 * 100, "hyper's own default suffices for the default limits");
    let large = carnet_server::HttpLimits { headers_total_bytes: 1 << 20, ..carnet_server::HttpLimits::default() };
    assert!(ConnectionLimits::head_buffer_for(&large) > 2 << 20);
}

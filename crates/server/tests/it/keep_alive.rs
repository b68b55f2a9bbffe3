//! A refused upload never costs the client its next request. Carnet answers some uploads before
//! reading their body (a wrong INS check key, no token, a declared length over the limit) or
//! half-way (a malformed first part); the rest of the body is then read and dropped, up to a
//! bound, and the connection goes on — or, beyond the bound, the refusal says
//! `Connection: close`, so the client knows not to reuse it.
//!
//! On a real TCP port, with hyper's HTTP/1.1 client over one connection at a time: no pool and no
//! retry, so a connection closed under a request is an error here, as it is for Python's
//! `http.client` ("remote end closed connection without response").

use crate::support;

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use carnet_domain::{Ins, Profession};
use carnet_server::HttpLimits;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use support::{Backend, TestApp, ins};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request body: whole (with its `Content-Length`) or chunked.
type Payload = BoxBody<Bytes, Infallible>;

fn whole(bytes: Vec<u8>) -> Payload {
    Full::new(Bytes::from(bytes)).boxed()
}

/// Sent in 16 KiB chunks without a declared length (`Transfer-Encoding: chunked`).
fn chunked(bytes: Vec<u8>) -> Payload {
    let chunks: Vec<Result<hyper::body::Frame<Bytes>, Infallible>> =
        bytes.chunks(16 * 1024).map(|c| Ok(hyper::body::Frame::data(Bytes::copy_from_slice(c)))).collect();
    StreamBody::new(futures::stream::iter(chunks)).boxed()
}

async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serves") });
    addr
}

/// One HTTP/1.1 connection, kept alive between requests.
async fn connect(addr: SocketAddr) -> SendRequest<Payload> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(async move {
        // Ends with the connection; an error there shows up as the request's.
        let _ = connection.await;
    });
    sender
}

/// What came back for a request, or why nothing did.
struct Answer {
    status: StatusCode,
    closes: bool,
}

async fn send(sender: &mut SendRequest<Payload>, request: Request<Payload>) -> Result<Answer, String> {
    sender.ready().await.map_err(|e| format!("connection not ready: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("no response: {e}"))?;
    let status = response.status();
    let closes = response
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    response.into_body().collect().await.map_err(|e| format!("body cut: {e}"))?;
    Ok(Answer { status, closes })
}

/// An INS of the right shape whose check key is wrong.
fn wrong_key(p: &Ins) -> String {
    let text = p.to_string();
    let (body, key) = text.split_at(text.len() - 2);
    let key: u8 = key.parse().expect("two digits");
    format!("{body}{:02}", (key + 1) % 98)
}

fn multipart(first_part: &str, size: usize) -> (String, Vec<u8>) {
    let boundary = "carnet-keep-alive-boundary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{first_part}\"\r\nContent-Type: application/pdf\r\n\r\n")
            .into_bytes();
    body.extend(std::iter::repeat_n(b'x', size));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The `i`-th refused upload of `size` bytes, and the status it must get.
fn refused(i: usize, size: usize, p: &Ins, token: &str) -> (Request<Payload>, StatusCode) {
    let request = |uri: String, content_type: &str, body: Vec<u8>, token: Option<&str>| {
        let mut r = Request::builder().method(Method::POST).uri(uri).header(header::HOST, "carnet.test");
        r = r.header(header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(whole(body)).expect("request")
    };
    let (upload_type, upload) = multipart("content", size);
    match i % 5 {
        // A deposit to an INS with a wrong check key: refused before the body is read.
        0 => (
            request(format!("/api/records/{}/documents", wrong_key(p)), &upload_type, upload, Some(token)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // No token: refused before the body is read.
        1 => (request(format!("/api/records/{p}/documents"), &upload_type, upload, None), StatusCode::UNAUTHORIZED),
        // The content part first: refused after reading the start of the body.
        2 => (request(format!("/api/records/{p}/documents"), &upload_type, upload, Some(token)), StatusCode::BAD_REQUEST),
        // ITI-65 without a token.
        3 => (request("/fhir".into(), "application/fhir+json", vec![b' '; size], None), StatusCode::UNAUTHORIZED),
        // ITI-65 over the FHIR body limit (declared): refused before the body is read; under
        // it, a body that is not JSON, read whole.
        _ if size > FHIR_BODY_BYTES => {
            (request("/fhir".into(), "application/fhir+json", vec![b' '; size], Some(token)), StatusCode::PAYLOAD_TOO_LARGE)
        }
        _ => (request("/fhir".into(), "application/fhir+json", vec![b'{'; size], Some(token)), StatusCode::BAD_REQUEST),
    }
}

const FHIR_BODY_BYTES: usize = 256 * 1024;

async fn a_refused_upload_never_costs_the_next_request(backend: Backend) {
    let app = TestApp::with_limits(backend, HttpLimits { fhir_body_bytes: FHIR_BODY_BYTES, ..HttpLimits::default() }).await;
    let p = ins(81);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let patient = app.patient(&p);
    let addr = serve(&app).await;
    let follow_up = |i: usize| {
        let uri = if i.is_multiple_of(2) { "/health".to_owned() } else { format!("/api/records/{p}") };
        Request::get(uri)
            .header(header::HOST, "carnet.test")
            .header(header::AUTHORIZATION, format!("Bearer {patient}"))
            .body(whole(vec![]))
            .expect("request")
    };
    // Some KB to a few MB, mostly small (as refused uploads are).
    let sizes = [1024, 8 * 1024, 64 * 1024, 256 * 1024, 2 * 1024, 16 * 1024, 100 * 1024, 1024 * 1024, 32 * 1024, 3 * 1024 * 1024];
    let mut sender = connect(addr).await;
    let (mut lost, mut closed) = (vec![], 0);
    for i in 0..1000 {
        let size = sizes[(i / 5) % sizes.len()];
        let (request, expected) = refused(i, size, &p, &doctor);
        match send(&mut sender, request).await {
            Ok(a) => {
                assert_eq!(a.status, expected, "refusal {i} ({size} bytes)");
                if a.closes {
                    // Said in the refusal: the client opens a new connection, nothing is lost.
                    closed += 1;
                    sender = connect(addr).await;
                }
            }
            Err(e) => {
                lost.push(format!("refusal {i} ({size} bytes): {e}"));
                sender = connect(addr).await;
                continue;
            }
        }
        match send(&mut sender, follow_up(i)).await {
            Ok(a) => assert_eq!(a.status, StatusCode::OK, "follow-up {i}"),
            Err(e) => {
                lost.push(format!("follow-up of refusal {i} ({size} bytes): {e}"));
                sender = connect(addr).await;
            }
        }
    }
    assert!(lost.is_empty(), "{} of 2,000 requests lost:\n{}", lost.len(), lost.join("\n"));
    // Every remainder here is within the bound: the connection was kept every time.
    assert_eq!(closed, 0, "refusals that closed the connection");

    // Beyond the bound, the refusal says it closes; the client reconnects and goes on.
    let big = 6 * 1024 * 1024;
    for i in [0, 1, 3, 4] {
        let (request, expected) = refused(i, big, &p, &doctor);
        let a = send(&mut sender, request).await.unwrap_or_else(|e| panic!("refusal {i} of {big} bytes: {e}"));
        assert_eq!((a.status, a.closes), (expected, true), "refusal {i} of {big} bytes says Connection: close");
        sender = connect(addr).await;
        let a = send(&mut sender, follow_up(i)).await.unwrap_or_else(|e| panic!("follow-up {i}: {e}"));
        assert_eq!(a.status, StatusCode::OK);
    }
}

/// Without a declared length, the same: kept within the bound, closed as said beyond it.
#[tokio::test]
async fn a_refused_chunked_upload_keeps_its_connection_or_says_it_closes() {
    let app = TestApp::new(Backend::Sqlite).await;
    let p = ins(82);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let addr = serve(&app).await;
    let mut sender = connect(addr).await;
    let (upload_type, _) = multipart("content", 0);
    let upload = |size: usize| {
        Request::post(format!("/api/records/{}/documents", wrong_key(&p)))
            .header(header::HOST, "carnet.test")
            .header(header::AUTHORIZATION, format!("Bearer {doctor}"))
            .header(header::CONTENT_TYPE, &upload_type)
            .body(chunked(multipart("content", size).1))
            .expect("request")
    };
    let health = || Request::get("/health").header(header::HOST, "carnet.test").body(whole(vec![])).expect("request");
    for _ in 0..20 {
        let a = send(&mut sender, upload(300 * 1024)).await.expect("the refusal");
        assert_eq!((a.status, a.closes), (StatusCode::UNPROCESSABLE_ENTITY, false));
        assert_eq!(send(&mut sender, health()).await.expect("on the same connection").status, StatusCode::OK);
    }
    let a = send(&mut sender, upload(6 * 1024 * 1024)).await.expect("the refusal");
    assert_eq!((a.status, a.closes), (StatusCode::UNPROCESSABLE_ENTITY, true), "beyond the bound: Connection: close");
    let mut sender = connect(addr).await;
    assert_eq!(send(&mut sender, health()).await.expect("on a new connection").status, StatusCode::OK);
}

/// A client that waits for `100 Continue` is refused without being asked for its body, and told
/// the connection closes (RFC 9110 §10.1.1): it need not send the body at all.
#[tokio::test]
async fn a_client_awaiting_100_continue_gets_the_refusal_instead() {
    let app = TestApp::new(Backend::Sqlite).await;
    let p = ins(83);
    let doctor = app.professional(1, Profession::Medecin);
    let addr = serve(&app).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/records/{}/documents HTTP/1.1\r\nHost: carnet.test\r\nAuthorization: Bearer {doctor}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
        wrong_key(&p)
    );
    stream.write_all(head.as_bytes()).await.expect("the head");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("answered, and the connection closed, without the body")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 422"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(!answer.contains("100 continue"), "{answer}");
}

#[tokio::test]
async fn a_refused_upload_never_costs_the_next_request_sqlite() {
    a_refused_upload_never_costs_the_next_request(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_refused_upload_never_costs_the_next_request_postgres() {
    a_refused_upload_never_costs_the_next_request(Backend::Postgres).await;
}

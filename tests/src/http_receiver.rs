//! A loopback HTTP server for tests (actix-web): it records every request (method, path,
//! headers, body) and answers `200 {"ok": true}`, or fails the first N requests when told to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::sync::Notify;

/// A request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// A header's value, by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
    /// The body as JSON (null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<ReceivedRequest>>,
    failures_left: AtomicUsize,
    failure_status: AtomicU16,
    /// (requests left, status, Location) of redirects to answer.
    redirect: Mutex<Option<(usize, u16, String)>>,
    arrived: Notify,
}

/// The server; stops when dropped.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    handle: ServerHandle,
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<State>>) -> HttpResponse {
    let r = ReceivedRequest {
        method: req.method().to_string(),
        path: req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    state.requests.lock().unwrap().push(r);
    state.arrived.notify_waiters();
    {
        let mut redirect = state.redirect.lock().unwrap();
        if let Some((left, status, location)) = redirect.as_mut() {
            let status = actix_web::http::StatusCode::from_u16(*status).expect("a status");
            let location = location.clone();
            *left -= 1;
            if *left == 0 {
                *redirect = None;
            }
            return HttpResponse::build(status)
                .insert_header(("Location", location))
                .finish();
        }
    }
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        let status = actix_web::http::StatusCode::from_u16(state.failure_status.load(Ordering::SeqCst))
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status).json(serde_json::json!({"error": "told to fail"}))
    } else {
        HttpResponse::Ok().json(serde_json::json!({"ok": true}))
    }
}

impl HttpReceiver {
    /// Listens on 127.0.0.1 at a free port.
    pub async fn start() -> HttpReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind http receiver");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State::default());
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(8 * 1024 * 1024))
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        HttpReceiver { addr, state, handle }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next `n` requests are answered with `status` (then 200 again).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state.failure_status.store(status, Ordering::SeqCst);
        self.state.failures_left.store(n, Ordering::SeqCst);
    }

    /// The next `n` requests are answered with a redirect (`status`, e.g. 302 or 307) to
    /// `location`.
    pub fn redirect_next(&self, n: usize, status: u16, location: &str) {
        *self.state.redirect.lock().unwrap() = (n > 0).then(|| (n, status, location.to_string()));
    }

    /// What arrived so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedRequest> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.arrived.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} request(s) arrived, {n} expected", self.requests().len());
            }
        }
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_requests_and_fails_the_first_ones_when_told() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rx = HttpReceiver::start().await;
        rx.fail_next(2, 500);
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for i in 0..3 {
            let r = client
                .post(rx.url(&format!("/hook?n={i}")))
                .header("X-Test", "yes")
                .json(&serde_json::json!({"i": i}))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [500, 500, 200]);
        let got = rx.wait_for(3, Duration::from_secs(5)).await;
        assert_eq!(got[2].method, "POST");
        assert_eq!(got[2].path, "/hook?n=2");
        assert_eq!(got[2].header("x-test"), Some("yes"));
        assert_eq!(got[2].json(), serde_json::json!({"i": 2}));
        rx.fail_next(1, 400);
        let r = client.get(rx.url("/")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        rx.redirect_next(1, 307, "/elsewhere");
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_follow.post(rx.url("/x")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 307);
        assert_eq!(r.headers()["location"], "/elsewhere");
        let r = no_follow.post(rx.url("/x")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
}

//! A loopback SMTP server for tests: it accepts every message (or refuses recipients when told
//! to) and keeps what it received for the test to read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A message as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent after `DATA` (dot-unstuffed, CRLF line ends).
    pub data: String,
    /// The `Subject` header, unfolded and decoded.
    pub subject: Option<String>,
}

impl ReceivedMail {
    /// A header's raw value (unfolded), by name in any case.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            } else {
                unfolded.push(line.to_string());
            }
        }
        unfolded.into_iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body, decoded from its transfer encoding (7bit, 8bit, quoted-printable or base64).
    pub fn body(&self) -> String {
        let raw = self.data.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "base64" => {
                let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
                String::from_utf8_lossy(&b64_decode(&compact)).into_owned()
            }
            "quoted-printable" => String::from_utf8_lossy(&qp_decode(raw)).into_owned(),
            _ => raw.to_string(),
        }
    }

    /// The parts of a multipart message as (content type, decoded body); empty when the
    /// message is not multipart.
    pub fn parts(&self) -> Vec<(String, String)> {
        let Some(ct) = self.header("Content-Type") else {
            return Vec::new();
        };
        let Some(boundary) = ct.split(';').find_map(|p| {
            p.trim()
                .strip_prefix("boundary=")
                .map(|b| b.trim_matches('"').to_string())
        }) else {
            return Vec::new();
        };
        let body = self.data.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        body.split(&format!("--{boundary}"))
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|p| {
                let part = ReceivedMail {
                    from: String::new(),
                    to: Vec::new(),
                    data: p.trim_start_matches("\r\n").to_string(),
                    subject: None,
                };
                let ct = part.header("Content-Type").unwrap_or_default();
                (ct, part.body())
            })
            .collect()
    }
}

#[derive(Default)]
struct State {
    messages: Mutex<Vec<ReceivedMail>>,
    /// The reply to every `RCPT TO` instead of `250` (e.g. `450 busy`, `550 no such user`).
    rcpt_reply: Mutex<Option<String>>,
    /// The reply to `RCPT TO` of one address, before `rcpt_reply`.
    rcpt_reply_to: Mutex<std::collections::HashMap<String, String>>,
    arrived: Notify,
}

/// The server; stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// Listens on 127.0.0.1 at a free port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp sink");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State::default());
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = session(stream, s).await;
                });
            }
        });
        SmtpSink { addr, state, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The tenant setting `smtp` that sends here (no TLS).
    pub fn settings(&self, from: &str) -> serde_json::Value {
        serde_json::json!({"host": "127.0.0.1", "port": self.port(), "from": from, "tls": "none", "timeout_ms": 5000})
    }

    /// Every `RCPT TO` is answered with `reply` (`None`: accepted again).
    pub fn reply_to_recipients(&self, reply: Option<&str>) {
        *self.state.rcpt_reply.lock().unwrap() = reply.map(str::to_string);
    }

    /// `RCPT TO` of `address` is answered with `reply` (`None`: as any other).
    pub fn reply_to_recipient(&self, address: &str, reply: Option<&str>) {
        let mut map = self.state.rcpt_reply_to.lock().unwrap();
        match reply {
            Some(r) => map.insert(address.to_string(), r.to_string()),
            None => map.remove(address),
        };
    }

    /// What arrived so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.arrived.notified();
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} message(s) arrived, {n} expected", self.messages().len());
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn between_brackets(arg: &str) -> String {
    match (arg.find('<'), arg.rfind('>')) {
        (Some(a), Some(b)) if b > a => arg[a + 1..b].to_string(),
        _ => arg
            .split_once(':')
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default(),
    }
}

async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = between_brackets(cmd);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let address = between_brackets(cmd);
            let one = state.rcpt_reply_to.lock().unwrap().get(&address).cloned();
            let forced = one.or_else(|| state.rcpt_reply.lock().unwrap().clone());
            match forced {
                Some(r) => format!("{r}\r\n"),
                None => {
                    to.push(address);
                    "250 OK\r\n".into()
                }
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 no recipients\r\n".into()
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let l = line.trim_end_matches(['\r', '\n']);
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(l));
                    data.push_str("\r\n");
                }
                let mut mail = ReceivedMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                    subject: None,
                };
                mail.subject = mail.header("Subject").map(|s| decode_words(&s));
                state.messages.lock().unwrap().push(mail);
                state.arrived.notify_waiters();
                "250 OK queued\r\n".into()
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("NOOP") {
            "250 OK\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "502 command not implemented\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); whitespace between two
/// encoded words is dropped, as the RFC says.
pub fn decode_words(s: &str) -> String {
    let mut out = Vec::<u8>::new();
    let mut rest = s;
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some(start) = rest.find("=?") {
            let (before, from) = rest.split_at(start);
            let parts: Vec<&str> = from[2..].splitn(3, '?').collect();
            let end = parts.get(2).and_then(|p| p.find("?="));
            if let (3, Some(end)) = (parts.len(), end) {
                if !(last_was_word && before.trim().is_empty()) {
                    out.extend_from_slice(before.as_bytes());
                }
                let text = &parts[2][..end];
                match parts[1].to_ascii_lowercase().as_str() {
                    "b" => out.extend(b64_decode(text)),
                    _ => out.extend(qp_decode(&text.replace('_', " "))),
                }
                let consumed = 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
                rest = &from[consumed..];
                last_was_word = true;
                continue;
            }
        }
        out.extend_from_slice(rest.as_bytes());
        break;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        let Some(v) = A.iter().position(|&c| c == b) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn qp_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if b[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(h) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn say(
        w: &mut tokio::net::tcp::OwnedWriteHalf,
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        line: &str,
    ) -> String {
        w.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        let mut reply = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).await.unwrap();
            reply.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return reply;
            }
        }
    }

    #[tokio::test]
    async fn a_conversation_leaves_the_message() {
        let sink = SmtpSink::start().await;
        let (read, mut w) = TcpStream::connect(sink.addr).await.unwrap().into_split();
        let mut r = BufReader::new(read);
        let mut greeting = String::new();
        r.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("220"));
        assert!(say(&mut w, &mut r, "EHLO me").await.ends_with("250 SMTPUTF8\r\n"));
        assert!(say(&mut w, &mut r, "NOOP").await.starts_with("250"));
        assert!(say(&mut w, &mut r, "DATA").await.starts_with("503"));
        assert!(
            say(&mut w, &mut r, "MAIL FROM:<a@example.com>")
                .await
                .starts_with("250")
        );
        assert!(say(&mut w, &mut r, "RCPT TO:<b@example.com>").await.starts_with("250"));
        assert!(say(&mut w, &mut r, "RCPT TO:<c@example.com>").await.starts_with("250"));
        assert!(say(&mut w, &mut r, "DATA").await.starts_with("354"));
        let msg = "Subject: =?utf-8?b?5ZCI5ZCM?= =?utf-8?q?_signed?=\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nline =E5=90=88\r\n..dot\r\n.";
        assert!(say(&mut w, &mut r, msg).await.starts_with("250"));
        sink.reply_to_recipients(Some("550 no such user"));
        assert!(
            say(&mut w, &mut r, "MAIL FROM:<a@example.com>")
                .await
                .starts_with("250")
        );
        assert!(say(&mut w, &mut r, "RCPT TO:<x@example.com>").await.starts_with("550"));
        assert!(say(&mut w, &mut r, "RSET").await.starts_with("250"));
        assert!(say(&mut w, &mut r, "VRFY x").await.starts_with("502"));
        assert!(say(&mut w, &mut r, "QUIT").await.starts_with("221"));
        let got = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].from, "a@example.com");
        assert_eq!(got[0].to, ["b@example.com", "c@example.com"]);
        assert_eq!(got[0].subject.as_deref(), Some("合同 signed"));
        assert_eq!(got[0].body(), "line 合\r\n.dot\r\n");
    }
}

//! An SMTP sink on loopback: speaks enough SMTP for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT), records every message, and can be told to
//! answer the next messages with a temporary (4xx) or permanent (5xx) error.
//! It offers AUTH PLAIN, LOGIN and XOAUTH2, records each attempt, and lets
//! a test decide which credentials it accepts (all, by default).

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use mail_parser::MessageParser;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct SinkMail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl SinkMail {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(&self.raw[..])
            .expect("the sink got a parseable mail")
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }

    pub fn header(&self, name: &'static str) -> Option<String> {
        self.parsed().header_raw(name).map(|v| v.trim().to_string())
    }

    pub fn message_id(&self) -> String {
        self.parsed()
            .message_id()
            .expect("the mail has a Message-ID")
            .to_string()
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }

    pub fn html(&self) -> Option<String> {
        self.parsed().body_html(0).map(|t| t.into_owned())
    }
}

/// Decides an AUTH attempt: (mechanism, decoded credentials) → accepted.
type AuthCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

#[derive(Clone, Default)]
pub struct SmtpSink {
    pub addr: Option<SocketAddr>,
    received: Arc<Mutex<Vec<SinkMail>>>,
    /// Every AUTH attempt: (mechanism, decoded credentials, accepted).
    auths: Arc<Mutex<Vec<(String, String, bool)>>>,
    check: Arc<Mutex<Option<AuthCheck>>>,
    /// Answers to the next DATA commands (e.g. "451 try later").
    script: Arc<Mutex<VecDeque<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on(0).await
    }

    /// A sink on `port` of loopback (0: any free port), e.g. a mail server
    /// that comes up where the daemon was told it would be.
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind sink");
        let mut sink = SmtpSink {
            addr: Some(listener.local_addr().expect("sink addr")),
            ..SmtpSink::default()
        };
        let state = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = state.serve(socket).await;
                });
            }
        });
        sink.addr = Some(sink.addr.expect("addr"));
        sink
    }

    /// `smtp://127.0.0.1:PORT` for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr.expect("started"))
    }

    pub fn received(&self) -> Vec<SinkMail> {
        self.received.lock().expect("lock").clone()
    }

    /// Mails sent to `address`.
    pub fn to(&self, address: &str) -> Vec<SinkMail> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Accepts only the sign-ins `check` approves from now on.
    pub fn accept_auth(&self, check: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
        *self.check.lock().expect("lock") = Some(Arc::new(check));
    }

    /// AUTH attempts so far: (mechanism, decoded credentials, accepted).
    pub fn auths(&self) -> Vec<(String, String, bool)> {
        self.auths.lock().expect("lock").clone()
    }

    /// Answers the next message's DATA with `reply` (`"451 4.3.0 busy"`).
    pub fn then_reply(&self, reply: &str) {
        self.script
            .lock()
            .expect("lock")
            .push_back(reply.to_string());
    }

    async fn serve(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut from = String::new();
        let mut to = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let command = String::from_utf8_lossy(&line).trim().to_string();
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                write
                    .write_all(
                        b"250-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250 SMTPUTF8\r\n",
                    )
                    .await?;
            } else if upper.starts_with("AUTH ") {
                let mut parts = command[5..].split_whitespace();
                let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
                let mut answers: Vec<String> = parts.next().map(String::from).into_iter().collect();
                let needed = if mechanism == "LOGIN" { 2 } else { 1 };
                while answers.len() < needed {
                    write.write_all(b"334 \r\n").await?;
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    answers.push(String::from_utf8_lossy(&line).trim().to_string());
                }
                use base64::Engine;
                let decoded: Vec<String> = answers
                    .iter()
                    .map(|a| {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(a)
                            .unwrap_or_default();
                        String::from_utf8_lossy(&bytes).to_string()
                    })
                    .collect();
                let credentials = decoded.join("\u{1}");
                let check = self.check.lock().expect("lock").clone();
                let accepted = check.is_none_or(|c| c(&mechanism, &credentials));
                self.auths
                    .lock()
                    .expect("lock")
                    .push((mechanism, credentials, accepted));
                if accepted {
                    write.write_all(b"235 2.7.0 accepted\r\n").await?;
                } else {
                    write
                        .write_all(b"535 5.7.8 authentication credentials invalid\r\n")
                        .await?;
                }
            } else if upper.starts_with("HELO") {
                write.write_all(b"250 sink\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                from = address(&command[10..]);
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                to.push(address(&command[8..]));
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "DATA" {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut raw = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    let content = if line.starts_with(b"..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    raw.extend_from_slice(content);
                }
                let scripted = self.script.lock().expect("lock").pop_front();
                match scripted {
                    Some(reply) => {
                        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
                    }
                    None => {
                        self.received.lock().expect("lock").push(SinkMail {
                            from: from.clone(),
                            to: to.clone(),
                            raw,
                        });
                        write.write_all(b"250 OK queued\r\n").await?;
                    }
                }
            } else if upper == "RSET" || upper == "NOOP" {
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"502 not implemented\r\n").await?;
            }
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(arg, |(a, _)| a);
    inner.trim().to_string()
}

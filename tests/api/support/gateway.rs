//! A fake Discord gateway that speaks what twilight-gateway needs: HELLO,
//! heartbeat ACKs, READY on IDENTIFY (its `resume_gateway_url` a second
//! listener, so a test sees where a RESUME went), zlib-stream when the URL
//! asks for it, and a session log as Discord keeps one: dispatches are
//! numbered and kept, also while no connection is live, and a RESUME with
//! the right session id and a sequence it knows replays those after it —
//! any other RESUME is answered op 9 `false`. A test can drop the live
//! connection with a close code or refuse IDENTIFY with one.

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::{
    handshake::server::{Request, Response},
    protocol::{frame::coding::CloseCode, CloseFrame},
    Message,
};

/// One WebSocket connection the daemon opened.
#[derive(Clone, Debug)]
pub struct Connection {
    /// It went to the READY's `resume_gateway_url`, not to `GET /gateway/bot`'s.
    pub to_resume_url: bool,
    /// Its URL asked for `compress=zlib-stream` (frames were compressed).
    pub zlib_stream: bool,
}

/// What a RESUME asked for, and whether it was accepted.
#[derive(Clone, Debug)]
pub struct Resume {
    pub session_id: String,
    pub seq: u64,
    pub accepted: bool,
}

enum Out {
    Text(String),
    Close(u16),
}

#[derive(Default)]
struct State {
    session: Option<String>,
    sessions: usize,
    sequence: u64,
    /// The current session's dispatches, for replay.
    log: Vec<(u64, String)>,
    /// The connection dispatches go to (identified or resumed).
    live: Option<UnboundedSender<Out>>,
    connections: Vec<Connection>,
    received: Vec<Value>,
    resumes: Vec<Resume>,
    refuse_identify: Option<u16>,
    resume_url: String,
}

#[derive(Clone)]
pub struct FakeGateway {
    state: Arc<Mutex<State>>,
    /// What `GET /gateway/bot` answers.
    pub url: String,
    pub resume_url: String,
}

impl FakeGateway {
    pub async fn start() -> FakeGateway {
        let state = Arc::new(Mutex::new(State::default()));
        let url = format!("ws://{}", listen(state.clone(), false).await);
        let resume_url = format!("ws://{}", listen(state.clone(), true).await);
        state.lock().expect("lock").resume_url = resume_url.clone();
        FakeGateway {
            state,
            url,
            resume_url,
        }
    }

    /// A dispatch of the current session, numbered next; sent at once if a
    /// connection is live, else kept for a RESUME. Returns its sequence.
    pub fn dispatch(&self, kind: &str, data: Value) -> u64 {
        let mut s = self.state.lock().expect("lock");
        s.sequence += 1;
        let seq = s.sequence;
        let text = json!({ "op": 0, "s": seq, "t": kind, "d": data }).to_string();
        s.log.push((seq, text.clone()));
        if let Some(live) = &s.live {
            let _ = live.send(Out::Text(text));
        }
        seq
    }

    /// Any frame on the live connection; a dispatch (op 0) keeps its `s`
    /// and is logged for replay like one from [`Self::dispatch`].
    pub fn send(&self, frame: Value) {
        let mut s = self.state.lock().expect("lock");
        let text = frame.to_string();
        if frame["op"] == 0 {
            if let Some(seq) = frame["s"].as_u64() {
                s.sequence = s.sequence.max(seq);
                s.log.push((seq, text.clone()));
            }
        }
        s.live
            .as_ref()
            .expect("a live gateway connection")
            .send(Out::Text(text))
            .expect("connection open");
    }

    /// Closes the live connection with `code`; dispatches from now on are
    /// kept until a RESUME.
    pub fn drop_connection(&self, code: u16) {
        if let Some(live) = self.state.lock().expect("lock").live.take() {
            let _ = live.send(Out::Close(code));
        }
    }

    /// Every IDENTIFY from now on is answered by closing with `code`.
    pub fn refuse_identify(&self, code: u16) {
        self.state.lock().expect("lock").refuse_identify = Some(code);
    }

    /// The current session's id.
    pub fn session(&self) -> Option<String> {
        self.state.lock().expect("lock").session.clone()
    }

    pub fn is_live(&self) -> bool {
        self.state.lock().expect("lock").live.is_some()
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.state.lock().expect("lock").connections.clone()
    }

    pub fn resumes(&self) -> Vec<Resume> {
        self.state.lock().expect("lock").resumes.clone()
    }

    /// JSON frames the daemon sent, oldest first.
    pub fn received(&self) -> Vec<Value> {
        self.state.lock().expect("lock").received.clone()
    }

    /// How many IDENTIFYs were sent.
    pub fn identifies(&self) -> usize {
        self.received().iter().filter(|f| f["op"] == 2).count()
    }
}

async fn listen(state: Arc<Mutex<State>>, resume: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind fake gateway");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(state.clone(), resume, tcp));
        }
    });
    addr
}

async fn serve(state: Arc<Mutex<State>>, to_resume_url: bool, tcp: tokio::net::TcpStream) {
    use futures::{SinkExt, StreamExt};
    let uri = Mutex::new(String::new());
    // The error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        *uri.lock().expect("lock") = request.uri().to_string();
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let zlib_stream = uri.lock().expect("lock").contains("compress=zlib-stream");
    state.lock().expect("lock").connections.push(Connection {
        to_resume_url,
        zlib_stream,
    });
    let (tx, mut rx) = unbounded_channel::<Out>();
    let (mut sink, mut stream) = ws.split();
    // One compression context per connection, flushed per message: zlib-stream.
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let mut encode = move |text: String| -> Message {
        if !zlib_stream {
            return Message::Text(text.into());
        }
        zlib.write_all(text.as_bytes()).expect("compress");
        zlib.flush().expect("flush");
        Message::Binary(std::mem::take(zlib.get_mut()).into())
    };
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": 1000 } }).to_string();
    if sink.send(encode(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if sink.send(encode(text)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                    answer(&state, &tx, &frame);
                    state.lock().expect("lock").received.push(frame);
                }
                Some(Ok(Message::Close(frame))) => {
                    // Echoed, as Discord does, so the client sees a clean close.
                    let _ = sink.send(Message::Close(frame)).await;
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Gone: dispatches from now on wait for a RESUME, as on Discord.
    let mut s = state.lock().expect("lock");
    if s.live.as_ref().is_some_and(|live| live.same_channel(&tx)) {
        s.live = None;
    }
}

/// Discord's side of a frame the daemon sent.
fn answer(state: &Mutex<State>, tx: &UnboundedSender<Out>, frame: &Value) {
    let mut s = state.lock().expect("lock");
    match frame["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(Out::Text(json!({ "op": 11 }).to_string()));
        }
        Some(2) => {
            if let Some(code) = s.refuse_identify {
                let _ = tx.send(Out::Close(code));
                return;
            }
            s.sessions += 1;
            let session = format!("fake-session-{}", s.sessions);
            s.session = Some(session.clone());
            s.sequence = 1;
            s.log.clear();
            s.live = Some(tx.clone());
            let ready = json!({ "op": 0, "s": 1, "t": "READY", "d": {
                "v": 10, "session_id": session, "resume_gateway_url": s.resume_url,
                "user": { "id": super::discord::APP_ID, "username": "switchboard", "discriminator": "0",
                          "avatar": null, "bot": true },
                "guilds": [], "application": { "id": super::discord::APP_ID, "flags": 0 } } });
            let _ = tx.send(Out::Text(ready.to_string()));
        }
        Some(6) => {
            let session_id = frame["d"]["session_id"].as_str().unwrap_or_default();
            let seq = frame["d"]["seq"].as_u64().unwrap_or(u64::MAX);
            let accepted = s.session.as_deref() == Some(session_id) && seq <= s.sequence;
            s.resumes.push(Resume {
                session_id: session_id.to_string(),
                seq,
                accepted,
            });
            if !accepted {
                let _ = tx.send(Out::Text(json!({ "op": 9, "d": false }).to_string()));
                return;
            }
            for (_, text) in s.log.iter().filter(|(n, _)| *n > seq) {
                let _ = tx.send(Out::Text(text.clone()));
            }
            s.sequence += 1;
            let resumed =
                json!({ "op": 0, "s": s.sequence, "t": "RESUMED", "d": null }).to_string();
            let n = s.sequence;
            s.log.push((n, resumed.clone()));
            let _ = tx.send(Out::Text(resumed));
            s.live = Some(tx.clone());
        }
        _ => {}
    }
}

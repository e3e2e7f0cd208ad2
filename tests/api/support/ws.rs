//! A fake WebSocket server for the platforms' push connections (Slack
//! Socket Mode, the Discord gateway): greets each connection, pushes the
//! frames a test sends on the newest connection, records the JSON frames
//! the daemon sends and optionally answers some of them at once. A test
//! may also write to an older connection, or make the newest one go
//! silent (a half-open link: open, but nothing read or answered).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use serde_json::Value;

/// Answers a received frame at once (e.g. a heartbeat acknowledgement).
pub type AutoReply = fn(&Value) -> Option<Value>;

#[derive(Clone, Default)]
pub struct FakeWs {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Frames for the newest connection.
    send: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Frames for each connection, oldest first.
    sends: Vec<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Silences the newest connection.
    hang: Option<Arc<tokio::sync::Notify>>,
    connections: usize,
    received: Vec<Value>,
}

impl FakeWs {
    /// Serves on a random loopback port; returns `host:port`.
    pub async fn start(&self, hello: Value, reply: Option<AutoReply>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake WebSocket");
        let addr = listener.local_addr().expect("addr");
        let state = self.state.clone();
        tokio::spawn(async move {
            use futures::{SinkExt, StreamExt};
            use tokio_tungstenite::tungstenite::Message;
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let hang = Arc::new(tokio::sync::Notify::new());
                let hung = hang.clone();
                {
                    let mut s = state.lock().expect("lock");
                    s.connections += 1;
                    s.send = Some(tx.clone());
                    s.sends.push(tx.clone());
                    s.hang = Some(hang);
                }
                let state = state.clone();
                let hello = hello.to_string();
                tokio::spawn(async move {
                    let (mut sink, mut stream) = ws.split();
                    if sink.send(Message::Text(hello.into())).await.is_err() {
                        return;
                    }
                    loop {
                        tokio::select! {
                            _ = hung.notified() => {
                                // Open but deaf and mute until the test ends.
                                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                                drop((sink, stream));
                                return;
                            }
                            out = rx.recv() => match out {
                                Some(text) => {
                                    if sink.send(Message::Text(text.into())).await.is_err() {
                                        return;
                                    }
                                }
                                None => return,
                            },
                            frame = stream.next() => match frame {
                                Some(Ok(Message::Text(text))) => {
                                    let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                                    if let Some(answer) = reply.and_then(|reply| reply(&v)) {
                                        let _ = tx.send(answer.to_string());
                                    }
                                    state.lock().expect("lock").received.push(v);
                                }
                                Some(Ok(_)) => {}
                                _ => return,
                            },
                        }
                    }
                });
            }
        });
        addr
    }

    /// Pushes a frame on the newest connection.
    pub fn send(&self, frame: Value) {
        let state = self.state.lock().expect("lock");
        state
            .send
            .as_ref()
            .expect("a WebSocket connection")
            .send(frame.to_string())
            .expect("connection open");
    }

    /// Pushes a frame on connection `n` (1 is the first).
    pub fn send_to(&self, n: usize, frame: Value) {
        let state = self.state.lock().expect("lock");
        state.sends[n - 1]
            .send(frame.to_string())
            .expect("connection open");
    }

    /// The newest connection stops reading and answering (pings too), its
    /// TCP connection left open.
    pub fn hang(&self) {
        if let Some(hang) = self.state.lock().expect("lock").hang.take() {
            hang.notify_one();
        }
    }

    pub fn connections(&self) -> usize {
        self.state.lock().expect("lock").connections
    }

    /// JSON frames the daemon sent, oldest first.
    pub fn received(&self) -> Vec<Value> {
        self.state.lock().expect("lock").received.clone()
    }
}

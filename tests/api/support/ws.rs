//! A fake WebSocket server for the platforms' push connections (Slack
//! Socket Mode, the Discord gateway): greets each connection, pushes the
//! frames a test sends on the newest connection, records the JSON frames
//! the daemon sends and optionally answers some of them at once.

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
                {
                    let mut s = state.lock().expect("lock");
                    s.connections += 1;
                    s.send = Some(tx.clone());
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

    pub fn connections(&self) -> usize {
        self.state.lock().expect("lock").connections
    }

    /// JSON frames the daemon sent, oldest first.
    pub fn received(&self) -> Vec<Value> {
        self.state.lock().expect("lock").received.clone()
    }
}

//! A fake SMS gateway speaking Twilio's Messages API: records each form
//! POST (path, basic-auth header, fields) and answers 201 like Twilio, or
//! 400 for the number Twilio documents as invalid (`+15005550001`).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::json;

pub const INVALID_NUMBER: &str = "+15005550001";

#[derive(Debug, Clone)]
pub struct Sms {
    pub account: String,
    pub authorization: String,
    pub fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
pub struct FakeSmsGateway {
    received: Arc<Mutex<Vec<Sms>>>,
}

impl FakeSmsGateway {
    /// Serves on a random loopback port; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake SMS gateway");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    pub fn received(&self) -> Vec<Sms> {
        self.received.lock().expect("lock").clone()
    }
}

async fn messages(
    State(fake): State<FakeSmsGateway>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let to = fields.get("To").cloned().unwrap_or_default();
    fake.received.lock().expect("lock").push(Sms {
        account: sid,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        fields,
    });
    if to == INVALID_NUMBER {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400 })),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        Json(json!({ "sid": "SM0000", "status": "queued", "to": to })),
    )
        .into_response()
}

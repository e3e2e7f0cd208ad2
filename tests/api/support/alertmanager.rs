//! A real Prometheus Alertmanager on loopback (Debian's
//! `prometheus-alertmanager`), clustering off, configured with webhook
//! receivers pointing at the daemon under test, and short group timings so
//! a test sees notifications within seconds. Fails with a clear message
//! when the package is not installed (`.ci/install-deps.sh` installs it).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

pub struct Alertmanager {
    pub url: String,
    _dir: tempfile::TempDir,
    child: Child,
}

fn binary() -> PathBuf {
    for candidate in [
        "/usr/bin/prometheus-alertmanager",
        "/usr/local/bin/alertmanager",
        "/usr/bin/alertmanager",
    ] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Alertmanager is not installed: the alert tests drive a real one. Install the \
         `prometheus-alertmanager` package (apt-get install -y prometheus-alertmanager; \
         .ci/install-deps.sh does it)."
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Alertmanager {
    /// Starts one that groups by `alertname` and sends every notification
    /// to each of `webhooks` (url, bearer secret): listing the daemon twice
    /// makes it deliver everything twice, as an HA pair does.
    pub async fn start(webhooks: &[(String, String)]) -> Alertmanager {
        let dir = tempfile::tempdir().expect("temp dir");
        let receivers: String = webhooks
            .iter()
            .map(|(url, secret)| {
                format!(
                    "  - url: '{url}'\n    send_resolved: true\n    http_config:\n      \
                     authorization:\n        type: Bearer\n        credentials: '{secret}'\n"
                )
            })
            .collect();
        let config = format!(
            "route:\n  receiver: switchboard\n  group_by: ['alertname']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: switchboard\n  \
             webhook_configs:\n{receivers}"
        );
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write config");
        let port = free_port();
        let child = Command::new(binary())
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let ready = client.get(format!("{}/-/ready", am.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return am;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("alertmanager did not become ready on {}", am.url);
    }

    /// Posts alerts to its API (`POST /api/v2/alerts`), as Prometheus does.
    pub async fn post_alerts(&self, alerts: &Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .await
            .expect("post alerts");
        assert!(
            response.status().is_success(),
            "alertmanager took the alerts: {}",
            response.status()
        );
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

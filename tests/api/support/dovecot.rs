//! A throwaway Dovecot IMAP server on loopback: its own configuration,
//! users and maildir in a temp directory, on a free port, no TLS. Started
//! per test (about 0.2 s); stopped and restarted on the same port to test
//! reconnection. Fails with a clear message when Dovecot is not installed
//! (`apt-get install dovecot-imapd`, which `.ci/install-deps.sh` does).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use async_imap::Client;
use futures::TryStreamExt;
use tokio::net::TcpStream;

pub const USER: &str = "desk@corp.example";
pub const PASSWORD: &str = "imap-secret";

pub struct Dovecot {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// With an RFC 7662 introspection URL: XOAUTH2/OAUTHBEARER sign-ins
    /// are checked there (Dovecot's oauth2 passdb).
    introspection_url: Option<String>,
    /// Advertise these capabilities after sign-in instead of Dovecot's own
    /// (e.g. without MOVE, to exercise a client's fallback).
    capabilities: Option<String>,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    match Command::new("which").arg("dovecot").output() {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        _ => panic!(
            "Dovecot is not installed: the email tests need a real IMAP server. \
             Install the `dovecot-imapd` package (apt-get install -y dovecot-imapd; \
             .ci/install-deps.sh does it)."
        ),
    }
}

fn current_ids() -> (String, String, String) {
    let id = |flag: &str| {
        Command::new("id")
            .arg(flag)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    (id("-u"), id("-g"), id("-un"))
}

impl Dovecot {
    pub async fn start() -> Dovecot {
        Self::start_with(None).await
    }

    /// A server that also takes XOAUTH2, asking `introspection_url` about
    /// each bearer token.
    pub async fn start_with_oauth(introspection_url: &str) -> Dovecot {
        Self::start_with(Some(introspection_url.to_string())).await
    }

    /// A server that advertises only `capabilities` once signed in.
    pub async fn start_advertising(capabilities: &str) -> Dovecot {
        Self::launch_new(None, Some(capabilities.to_string())).await
    }

    async fn start_with(introspection_url: Option<String>) -> Dovecot {
        Self::launch_new(introspection_url, None).await
    }

    async fn launch_new(
        introspection_url: Option<String>,
        capabilities: Option<String>,
    ) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-dovecot-")
            .tempdir()
            .expect("temp dir");
        // Dovecot's unprivileged helpers must reach the sockets inside.
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let port = free_port();
        let mut dovecot = Dovecot {
            port,
            dir,
            child: None,
            introspection_url,
            capabilities,
        };
        dovecot.write_config();
        dovecot.launch().await;
        dovecot
    }

    fn write_config(&self) {
        let d = self.dir.path().display().to_string();
        let (uid, gid, user) = current_ids();
        // Dovecot refuses uid 0 for mail: as root, mail belongs to nobody.
        let (internal, login, uid, gid) = if uid == "0" {
            (
                "dovecot".to_string(),
                "dovenull".to_string(),
                "65534".to_string(),
                "65534".to_string(),
            )
        } else {
            (user.clone(), user, uid, gid)
        };
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(self.dir.path().join(sub)).expect("dovecot dirs");
        }
        let _ = Command::new("chmod")
            .arg("755")
            .arg(self.dir.path().join("run"))
            .status();
        let _ = Command::new("chown")
            .arg(format!("{uid}:{gid}"))
            .arg(self.dir.path().join("mail"))
            .arg(self.dir.path().join("home"))
            .status();
        std::fs::write(
            self.dir.path().join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .expect("passwd");
        let (mechanisms, oauth_passdb) = match &self.introspection_url {
            Some(url) => {
                std::fs::write(
                    self.dir.path().join("oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\n\
                         username_attribute = username\nactive_attribute = active\n\
                         active_value = true\nforce_introspection = yes\n"
                    ),
                )
                .expect("oauth2.conf.ext");
                (
                    "plain login xoauth2 oauthbearer",
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/oauth2.conf.ext\n}}\n"
                    ),
                )
            }
            None => ("plain login", String::new()),
        };
        let capability_line = self
            .capabilities
            .as_ref()
            .map(|c| format!("imap_capability = {c}\n"))
            .unwrap_or_default();
        let config = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
{oauth_passdb}{capability_line}default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"#,
            port = self.port
        );
        std::fs::write(self.config_path(), config).expect("dovecot.conf");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    async fn launch(&mut self) {
        let child = Command::new(binary())
            .arg("-F")
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dovecot");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.path().join("dovecot.log"))
                        .unwrap_or_default();
                    panic!("dovecot exited at start ({status}); log:\n{log}");
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!("dovecot did not listen on port {} within 15 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the server (connections drop).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Wait until the port is free again.
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Starts it again on the same port with the same mail.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// `imap://desk%40corp.example:…@127.0.0.1:PORT/INBOX`.
    pub fn url(&self) -> String {
        format!(
            "imap://{}:{PASSWORD}@127.0.0.1:{}/INBOX",
            USER.replace('@', "%40"),
            self.port
        )
    }

    async fn session(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login to dovecot")
    }

    /// Puts messages into the INBOX (IMAP APPEND), in order.
    pub async fn deliver_all(&self, messages: &[Vec<u8>]) {
        let mut session = self.session().await;
        for raw in messages {
            session
                .append("INBOX", None, None, raw)
                .await
                .expect("APPEND");
        }
        let _ = session.logout().await;
    }

    pub async fn deliver(&self, raw: impl Into<Vec<u8>>) {
        self.deliver_all(&[raw.into()]).await;
    }

    /// UIDs of the INBOX messages flagged \Seen and of those not.
    pub async fn seen_and_unseen(&self) -> (usize, usize) {
        let mut session = self.session().await;
        session.select("INBOX").await.expect("select");
        let seen = session.uid_search("SEEN").await.expect("search").len();
        let unseen = session.uid_search("UNSEEN").await.expect("search").len();
        let _ = session.logout().await;
        (seen, unseen)
    }

    /// How many messages `folder` holds (0 when it does not exist).
    pub async fn count(&self, folder: &str) -> usize {
        let mut session = self.session().await;
        let n = match session.select(folder).await {
            Ok(mailbox) => mailbox.exists as usize,
            Err(_) => 0,
        };
        let _ = session.logout().await;
        n
    }

    /// Clears \Seen on every message (as if a crash came before flagging).
    pub async fn mark_all_unseen(&self) {
        let mut session = self.session().await;
        session.select("INBOX").await.expect("select");
        let _: Vec<_> = session
            .uid_store("1:*", "-FLAGS.SILENT (\\Seen)")
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store");
        let _ = session.logout().await;
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            std::thread::sleep(Duration::from_millis(50));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

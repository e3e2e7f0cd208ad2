//! A loopback TCP proxy a test can cut: the daemon talks to PostgreSQL
//! through it, and `cut` makes the database vanish the way a stopped
//! server does (open connections dropped, new ones refused), without
//! touching the server other tests use; `hang` makes it a database that
//! takes connections and never answers (a stuck server, a full backlog);
//! `restore` brings it back on the same port.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    /// The accepting task, then each connection's.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Connections are taken and held, never forwarded.
    hanging: Arc<AtomicBool>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let proxy = TcpProxy {
            addr: listener.local_addr().expect("proxy addr"),
            upstream,
            tasks: Arc::default(),
            hanging: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (tasks, upstream, hanging) = (self.tasks.clone(), self.upstream, self.hanging.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let hang = hanging.load(Ordering::SeqCst);
                let link = tokio::spawn(async move {
                    if hang {
                        // Held open, silent, until the test ends.
                        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                        drop(client);
                    } else if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(link);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    /// The database goes away: the port closes and every connection
    /// through it is dropped.
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// The database stops answering: open connections are dropped, new
    /// ones are taken and never answered.
    pub fn hang(&self) {
        self.hanging.store(true, Ordering::SeqCst);
        let mut tasks = self.tasks.lock().expect("lock");
        // The accepting task (first) keeps running; the links go.
        for task in tasks.drain(1..) {
            task.abort();
        }
    }

    /// The database is back on the same port.
    pub async fn restore(&self) {
        self.hanging.store(false, Ordering::SeqCst);
        let accepting = {
            let mut tasks = self.tasks.lock().expect("lock");
            let alive = tasks.first().is_some_and(|t| !t.is_finished());
            if alive {
                // Still listening after `hang`: drop the held connections.
                for task in tasks.drain(1..) {
                    task.abort();
                }
            }
            alive
        };
        if accepting {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.expect("rebind proxy");
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

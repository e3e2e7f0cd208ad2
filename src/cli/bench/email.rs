//! `switchboard bench --scenario email`: ingest throughput from an IMAP
//! mailbox into tickets. Fills the configured mailbox (`email.imap_url`)
//! with `--messages` mixed messages (short and long bodies, HTML-only ones,
//! 20 % with an attachment, some replies to earlier ones), then times one
//! worker taking them all in against the configured database. With
//! `--corpus DIR` the mailbox gets DIR's `.eml` files instead (real-world
//! mail: multipart bodies, attachments, replies by header). The mailbox
//! should be empty and the database fresh (benches/email.sh does both).

use std::time::Instant;

use anyhow::{anyhow, Context};
use async_imap::Client;
use tokio::net::TcpStream;

use crate::{
    config::Config,
    domain::mail::{MailUrl, Protocol},
    workers::mail::imap::MailboxWorker,
};

/// One generated message: mixed sizes, 20 % with an attachment, every
/// tenth a reply to an earlier one (a comment), every seventh HTML-only.
pub fn message(i: usize) -> Vec<u8> {
    let sender = format!("user{}@bench.example", i % 400);
    let body = match i % 4 {
        0 => "Short: my screen is black.".to_string(),
        1 => "The printer on floor 3 prints empty pages since this morning.\r\n".repeat(8),
        2 => {
            "Log excerpt follows.\r\n".to_string()
                + &"2026-11-22T09:00:00Z ERROR something failed in module x\r\n".repeat(60)
        }
        _ => "Hello,\r\n\r\nplease reset my password.\r\n\r\nThanks\r\n-- \r\nA. Person\r\nACME"
            .to_string(),
    };
    let reply = if i % 10 == 9 {
        format!("In-Reply-To: <bench-{}@bench.example>\r\n", i - 5)
    } else {
        String::new()
    };
    let head = format!(
        "From: User {n} <{sender}>\r\nTo: help@corp.example\r\nSubject: Bench request {i}\r\n\
         Message-ID: <bench-{i}@bench.example>\r\n{reply}Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n",
        n = i % 400
    );
    if i.is_multiple_of(5) {
        let attachment =
            "QmVuY2ggYXR0YWNobWVudCBjb250ZW50IGZvciB0aGUgYmVuY2htYXJr\r\n".repeat(40 + i % 200);
        format!(
            "{head}Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b{i}\r\n\
             Content-Type: application/octet-stream; name=\"report-{i}.bin\"\r\n\
             Content-Disposition: attachment; filename=\"report-{i}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{attachment}--b{i}--\r\n"
        )
        .into_bytes()
    } else if i.is_multiple_of(7) {
        format!("{head}Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{body}</p></body></html>\r\n").into_bytes()
    } else {
        format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
    }
}

/// The `.eml` files of `dir`, in name order.
pub fn read_corpus(dir: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the corpus {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("eml"))
        })
        .collect();
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "{} holds no .eml files", dir.display());
    paths
        .iter()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .collect()
}

pub async fn run(
    config: Config,
    messages: usize,
    corpus: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mails = match corpus {
        Some(dir) => read_corpus(dir)?,
        None => (0..messages).map(message).collect(),
    };
    let messages = mails.len();
    let bytes: usize = mails.iter().map(Vec::len).sum();
    let mailbox = config
        .email
        .mailboxes()
        .into_iter()
        .next()
        .context("set email.imap_url (SWITCHBOARD__EMAIL__IMAP_URL) to the mailbox to fill")?;
    let url = MailUrl::parse(mailbox.imap_url.expose(), Protocol::Imap).map_err(|e| anyhow!(e))?;
    let filling = Instant::now();
    {
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .context("connecting to the IMAP server")?;
        let mut client = Client::new(tcp);
        client.read_response().await?;
        let mut session = client
            .login(&url.user, &url.password)
            .await
            .map_err(|(e, _)| anyhow!("login: {e}"))?;
        for mail in mails {
            session.append(&url.folder, None, None, mail).await?;
        }
        let _ = session.logout().await;
    }
    println!(
        "filled {} with {messages} messages ({:.1} MB) in {:.1}s",
        url.display_name(),
        bytes as f64 / 1e6,
        filling.elapsed().as_secs_f64()
    );
    let db = crate::app::open_database(&config).await?;
    let desk = crate::app::build_desk(&config, db)?;
    let worker = MailboxWorker::new(desk.clone(), &mailbox, &config.email).await?;
    let started = Instant::now();
    let mut total = 0;
    loop {
        let pass = worker.poll_once().await?;
        total += pass.processed;
        if pass.processed == 0 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "scenario=email messages={total} seconds={seconds:.2} throughput={:.0}/s (IMAP fetch + parse + ticket/comment + attachments + ack in the outbox, \\Seen after commit)",
        total as f64 / seconds
    );
    if total != messages {
        anyhow::bail!("took in {total} of {messages} messages");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_is_its_eml_files_in_name_order() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("b.eml"), b"second").expect("write");
        std::fs::write(dir.path().join("a.EML"), b"first").expect("write");
        std::fs::write(dir.path().join("notes.txt"), b"not mail").expect("write");
        std::fs::create_dir(dir.path().join("c.eml")).expect("a directory named like mail");
        let mails = read_corpus(dir.path()).expect("read");
        assert_eq!(mails, vec![b"first".to_vec(), b"second".to_vec()]);
        let empty = tempfile::tempdir().expect("dir");
        assert!(read_corpus(empty.path()).is_err());
        assert!(read_corpus(&empty.path().join("missing")).is_err());
    }
}

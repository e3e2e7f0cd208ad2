//! Mail rules without I/O: mail server URLs (DESIGN.md §5), the ticket
//! token in subjects (`[INC0000042]`), Message-ID lists, trimming quoted
//! replies and signatures off a reply, and which messages must never be
//! answered automatically (loop and noise protection, RFC 3834).

use super::TicketNumber;

/// How a mail connection is secured, from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`, `smtps://`: TLS from the first byte.
    Tls,
    /// `imap+starttls://`, `smtp+starttls://`: upgraded after the greeting.
    StartTls,
    /// `imap://`, `smtp://`: no encryption (loopback and tests).
    Plain,
}

/// A parsed `imap…://` or `smtp…://` URL with its credentials decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct MailUrl {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// IMAP: the folder (`INBOX` when the path is empty); SMTP: unused.
    pub folder: String,
    /// `?auth=xoauth2`: the password is an OAuth 2.0 bearer token.
    pub xoauth2: bool,
}

impl std::fmt::Debug for MailUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailUrl")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// Which protocol a URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
}

impl MailUrl {
    pub fn parse(raw: &str, protocol: Protocol) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
        let (security, default_port) = match (protocol, url.scheme()) {
            (Protocol::Imap, "imaps") => (Security::Tls, 993),
            (Protocol::Imap, "imap+starttls") => (Security::StartTls, 143),
            (Protocol::Imap, "imap") => (Security::Plain, 143),
            (Protocol::Smtp, "smtps") => (Security::Tls, 465),
            (Protocol::Smtp, "smtp+starttls") => (Security::StartTls, 587),
            (Protocol::Smtp, "smtp") => (Security::Plain, 25),
            (Protocol::Imap, other) => {
                return Err(format!(
                    "scheme `{other}`: expected imaps, imap+starttls or imap"
                ))
            }
            (Protocol::Smtp, other) => {
                return Err(format!(
                    "scheme `{other}`: expected smtps, smtp+starttls or smtp"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| String::from("credentials are not valid percent-encoded UTF-8"))
        };
        let user = decode(url.username())?;
        let password = decode(url.password().unwrap_or(""))?;
        let folder = decode(url.path().trim_start_matches('/'))?;
        let xoauth2 = url
            .query_pairs()
            .any(|(k, v)| k == "auth" && v.eq_ignore_ascii_case("xoauth2"));
        Ok(Self {
            security,
            port: url.port().unwrap_or(default_port),
            host,
            user,
            password,
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                folder
            },
            xoauth2,
        })
    }

    /// `host:port/folder`, safe to log and to name the mailbox by.
    pub fn display_name(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.folder)
    }
}

/// Percent-decoded UTF-8; a `%` not followed by two hex digits stays as
/// it is (url has already refused what cannot be a URL).
fn percent_decode(input: &str) -> Option<String> {
    percent_encoding::percent_decode_str(input)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The first ticket token in a subject: `Re: [INC0000042] Printer` → INC0000042.
pub fn subject_token(subject: &str) -> Option<TicketNumber> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        if let Ok(number) = TicketNumber::parse(&after[..close]) {
            return Some(number);
        }
        rest = &after[close..];
    }
    None
}

/// The subject of a mail about a ticket: the token once, then the text.
pub fn subject_with_token(number: &str, subject: &str) -> String {
    let token = format!("[{number}]");
    if subject.contains(&token) {
        subject.to_string()
    } else if subject.trim().is_empty() {
        token
    } else {
        format!("{token} {}", subject.trim())
    }
}

/// `Re: ` once in front of a subject.
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("re:") || lower.starts_with("aw:") || lower.starts_with("sv:") {
        s.to_string()
    } else {
        format!("Re: {s}")
    }
}

/// Normalises a Message-ID to its bare form, without angle brackets or
/// surrounding space; `None` for an empty one.
pub fn bare_message_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= 900 && !id.chars().any(char::is_whitespace))
        .then(|| id.to_string())
}

/// Every `<id>` in a header such as `References` (also tolerating ids
/// without brackets separated by spaces).
pub fn message_ids(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    if header.contains('<') {
        for part in header.split('<').skip(1) {
            if let Some(end) = part.find('>') {
                if let Some(id) = bare_message_id(&part[..end]) {
                    out.push(id);
                }
            }
        }
    } else {
        out.extend(header.split_whitespace().filter_map(bare_message_id));
    }
    out
}

/// Why a message must not get an automatic answer, if it must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReply {
    AutoSubmitted,
    Precedence,
    MailingList,
    DaemonSender,
    OwnAddress,
}

impl NoReply {
    pub fn as_str(self) -> &'static str {
        match self {
            NoReply::AutoSubmitted => "auto_submitted",
            NoReply::Precedence => "precedence",
            NoReply::MailingList => "mailing_list",
            NoReply::DaemonSender => "daemon_sender",
            NoReply::OwnAddress => "own_address",
        }
    }
}

/// The headers that decide whether a message may be answered.
#[derive(Debug, Default, Clone)]
pub struct NoiseHeaders<'a> {
    pub auto_submitted: Option<&'a str>,
    pub precedence: Option<&'a str>,
    pub list_id: Option<&'a str>,
    /// Also `X-Autoreply`, `X-Autorespond`, `X-Auto-Response-Suppress`.
    pub x_autoreply: bool,
    pub sender: &'a str,
}

/// RFC 3834 §2 and common practice: never answer automatic mail, bulk or
/// list mail, mail daemons, or ourselves.
pub fn no_reply_reason(headers: &NoiseHeaders<'_>, own: &[String]) -> Option<NoReply> {
    let sender = headers.sender.trim().to_ascii_lowercase();
    if own.iter().any(|o| o.eq_ignore_ascii_case(&sender)) {
        return Some(NoReply::OwnAddress);
    }
    if is_daemon_address(&sender) {
        return Some(NoReply::DaemonSender);
    }
    if let Some(value) = headers.auto_submitted {
        let value = value.trim().to_ascii_lowercase();
        if !value.is_empty() && value.split(';').next().map(str::trim) != Some("no") {
            return Some(NoReply::AutoSubmitted);
        }
    }
    if headers.x_autoreply {
        return Some(NoReply::AutoSubmitted);
    }
    if let Some(value) = headers.precedence {
        if matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "bulk" | "junk" | "list"
        ) {
            return Some(NoReply::Precedence);
        }
    }
    if headers.list_id.is_some_and(|v| !v.trim().is_empty()) {
        return Some(NoReply::MailingList);
    }
    None
}

/// `mailer-daemon@…`, `postmaster@…` and their usual relatives.
pub fn is_daemon_address(address: &str) -> bool {
    let local = address
        .trim()
        .rsplit_once('@')
        .map_or(address, |(l, _)| l)
        .to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon" | "noreply-dmarc-support"
    ) || address.trim().is_empty()
}

/// The new part of a reply: stops at the first quoted-reply header
/// ("On … wrote:", Outlook's "-----Original Message-----" or its
/// "From: …" block after a rule), at a signature delimiter (`-- `), and
/// drops `>` quoted lines. Falls back to the whole text when trimming would
/// leave nothing.
pub fn trim_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let lower = trimmed.to_ascii_lowercase();
        if *line == "-- " || trimmed == "--" || trimmed == "—" {
            break;
        }
        if lower.starts_with("-----original message-----")
            || lower.starts_with("________________________________")
            || lower.starts_with("-----ursprüngliche nachricht-----")
            || lower.starts_with("sent from my ")
        {
            break;
        }
        // "On Tue, 3 Mar 2026 at 10:00, Ann <ann@x> wrote:" may wrap onto
        // the next line.
        let joined = match lines.get(i + 1) {
            Some(next) => format!("{lower} {}", next.trim().to_ascii_lowercase()),
            None => lower.clone(),
        };
        if (lower.starts_with("on ") || lower.starts_with("am ") || lower.starts_with("le "))
            && (lower.ends_with("wrote:")
                || lower.ends_with("schrieb:")
                || lower.ends_with("écrit :")
                || lower.ends_with("a écrit:")
                || (joined.ends_with("wrote:") && !lower.ends_with(':')))
        {
            break;
        }
        if lower.starts_with("from:")
            && lines.iter().skip(i + 1).take(3).any(|l| {
                let l = l.trim_start();
                l.starts_with("Sent:") || l.starts_with("Date:")
            })
        {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let result = kept.join("\n").trim().to_string();
    if result.is_empty() {
        text.trim().to_string()
    } else {
        result
    }
}

/// Cuts `text` to at most `max_chars` characters, saying so at the end.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    const NOTE: &str = "\n\n[… cut; the full message is attached]";
    let keep = max_chars.saturating_sub(NOTE.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(NOTE);
    out
}

/// A command on the first line of a reply: `#resolve`, `#approve`,
/// `#reject reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailCommand {
    Resolve,
    Approve,
    Reject(String),
}

pub fn parse_command(body: &str) -> Option<MailCommand> {
    let first = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    let rest = first.strip_prefix('#')?;
    let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match word.to_ascii_lowercase().as_str() {
        "resolve" | "resolved" => Some(MailCommand::Resolve),
        "approve" | "approved" => Some(MailCommand::Approve),
        "reject" | "rejected" => Some(MailCommand::Reject(arg.trim().to_string())),
        _ => None,
    }
}

/// Headers the sender writes and relays leave alone: what identifies a
/// message that has no Message-ID.
const AUTHORED: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "subject",
    "date",
    "in-reply-to",
    "references",
];

/// The intake key of a message without a Message-ID: a SHA-256 over the
/// headers its sender wrote ([`AUTHORED`], unfolded, names lowercased,
/// runs of space collapsed) and its body (line ends normalized, trailing
/// blank lines dropped). Copies delivered to several mailboxes or
/// addresses differ only in what relays add (`Received`, `Delivered-To`,
/// `Return-Path`, `X-Original-To` …), so they share the key. A message
/// with none of those headers is keyed by all of its bytes.
pub fn content_key(raw: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (text.as_str(), ""),
    };
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
            continue;
        }
        fields.push(line.to_string());
    }
    let mut kept: Vec<String> = fields
        .iter()
        .filter_map(|field| {
            let (name, value) = field.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            AUTHORED.contains(&name.as_str()).then(|| {
                format!(
                    "{name}:{}",
                    value.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
        })
        .collect();
    let mut hash = Sha256::new();
    if kept.is_empty() {
        hash.update(raw);
    } else {
        kept.sort();
        for field in &kept {
            hash.update(field.as_bytes());
            hash.update(b"\n");
        }
        hash.update(b"\n");
        hash.update(body.trim_end().as_bytes());
    }
    format!("content-sha256:{}", hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_a_mail_without_message_id_share_a_key_that_its_words_decide() {
        let mail = |trace: &str, subject: &str, body: &str| {
            format!(
                "{trace}From: Ann <ann@corp.example>\r\nTo: help@corp.example,\r\n  it@corp.example\r\n\
                 Subject: {subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
            )
            .into_bytes()
        };
        let first = mail(
            "Received: from mx1 by a; Sun, 22 Nov 2026 09:00:01 +0000\r\nDelivered-To: help@corp.example\r\n",
            "Printer",
            "It jams.",
        );
        let second = mail(
            "Return-Path: <ann@corp.example>\r\nReceived: from mx2 by b; Sun, 22 Nov 2026 09:00:03 +0000\r\n\
             X-Original-To: it@corp.example\r\nDelivered-To: it@corp.example\r\n",
            "Printer",
            "It jams.\r\n\r\n",
        );
        let key = content_key(&first);
        assert!(key.starts_with("content-sha256:"), "{key}");
        assert_eq!(key, content_key(&second), "trace headers do not count");
        assert_ne!(
            key,
            content_key(&mail("", "Printer!", "It jams.")),
            "the subject counts"
        );
        assert_ne!(
            key,
            content_key(&mail("", "Printer", "It jams again.")),
            "the body counts"
        );
        // Nothing a sender wrote: every byte decides.
        assert_ne!(content_key(b"garbage one"), content_key(b"garbage two"));
    }

    #[test]
    fn mail_urls_parse_with_encoded_credentials() {
        let url = MailUrl::parse(
            "imaps://user%40corp.com:p%3Aw@mail.corp.com:993/Support%20Desk",
            Protocol::Imap,
        )
        .expect("parses");
        assert_eq!(url.security, Security::Tls);
        assert_eq!(url.user, "user@corp.com");
        assert_eq!(url.password, "p:w");
        assert_eq!(url.folder, "Support Desk");
        let url = MailUrl::parse("imap+starttls://u:p@h/", Protocol::Imap).expect("parses");
        assert_eq!(
            (url.security, url.port, url.folder.as_str()),
            (Security::StartTls, 143, "INBOX")
        );
        let url = MailUrl::parse("smtp://127.0.0.1:2525", Protocol::Smtp).expect("parses");
        assert_eq!((url.security, url.port), (Security::Plain, 2525));
        assert!(MailUrl::parse("smtps://h", Protocol::Imap).is_err());
        assert!(MailUrl::parse("pop3://h", Protocol::Imap).is_err());
        assert!(!format!("{url:?}").contains("password"));
    }

    #[test]
    fn subject_tokens_are_found_and_added_once() {
        assert_eq!(
            subject_token("Re: [INC0000042] printer").map(|n| n.to_string()),
            Some("INC0000042".into())
        );
        assert_eq!(
            subject_token("[ext] AW: [REQ0000007] x").map(|n| n.to_string()),
            Some("REQ0000007".into())
        );
        assert!(subject_token("Re: [nope] [INC] x").is_none());
        assert_eq!(
            subject_with_token("INC0000001", "Printer"),
            "[INC0000001] Printer"
        );
        assert_eq!(
            subject_with_token("INC0000001", "Re: [INC0000001] Printer"),
            "Re: [INC0000001] Printer"
        );
        assert_eq!(reply_subject("RE: x"), "RE: x");
        assert_eq!(reply_subject("x"), "Re: x");
    }

    #[test]
    fn message_id_lists_are_split() {
        assert_eq!(
            message_ids("<a@b> <c@d>\r\n <e@f>"),
            vec!["a@b", "c@d", "e@f"]
        );
        assert_eq!(message_ids("a@b c@d"), vec!["a@b", "c@d"]);
        assert!(message_ids("").is_empty());
    }

    #[test]
    fn automatic_and_list_mail_is_not_answered() {
        let own = vec!["help@corp.com".to_string()];
        let base = NoiseHeaders {
            sender: "ann@corp.com",
            ..Default::default()
        };
        assert_eq!(no_reply_reason(&base, &own), None);
        let h = NoiseHeaders {
            auto_submitted: Some("no"),
            ..base.clone()
        };
        assert_eq!(no_reply_reason(&h, &own), None);
        let h = NoiseHeaders {
            auto_submitted: Some("auto-replied"),
            ..base.clone()
        };
        assert_eq!(no_reply_reason(&h, &own), Some(NoReply::AutoSubmitted));
        let h = NoiseHeaders {
            precedence: Some("Bulk"),
            ..base.clone()
        };
        assert_eq!(no_reply_reason(&h, &own), Some(NoReply::Precedence));
        let h = NoiseHeaders {
            list_id: Some("<x.lists.corp.com>"),
            ..base.clone()
        };
        assert_eq!(no_reply_reason(&h, &own), Some(NoReply::MailingList));
        let h = NoiseHeaders {
            sender: "MAILER-DAEMON@mx.corp.com",
            ..base.clone()
        };
        assert_eq!(no_reply_reason(&h, &own), Some(NoReply::DaemonSender));
        let h = NoiseHeaders {
            sender: "Help@corp.com",
            ..base
        };
        assert_eq!(no_reply_reason(&h, &own), Some(NoReply::OwnAddress));
    }

    #[test]
    fn replies_lose_quotes_and_signatures() {
        let text = "Thanks, that fixed it.\n\nOn Tue, 3 Mar 2026 at 10:00, Help <help@corp.com> wrote:\n> old\n> text";
        assert_eq!(trim_reply(text), "Thanks, that fixed it.");
        let text = "Still broken.\n-- \nAnn Example\nACME";
        assert_eq!(trim_reply(text), "Still broken.");
        let text = "New info\n\n-----Original Message-----\nFrom: Help\nSent: x";
        assert_eq!(trim_reply(text), "New info");
        let text = "Works\n\nFrom: Help Desk <help@corp.com>\nSent: Monday\nTo: Ann\n";
        assert_eq!(trim_reply(text), "Works");
        let text = "> only a quote";
        assert_eq!(trim_reply(text), "> only a quote");
    }

    #[test]
    fn commands_come_from_the_first_line() {
        assert_eq!(
            parse_command("#resolve\nthanks"),
            Some(MailCommand::Resolve)
        );
        assert_eq!(parse_command("\n #APPROVE"), Some(MailCommand::Approve));
        assert_eq!(
            parse_command("#reject too expensive"),
            Some(MailCommand::Reject("too expensive".into()))
        );
        assert_eq!(parse_command("please #resolve"), None);
        assert_eq!(parse_command("#unknown"), None);
    }

    #[test]
    fn truncation_keeps_the_limit() {
        let long = "x".repeat(100);
        let cut = truncate_chars(&long, 60);
        assert_eq!(cut.chars().count(), 60);
        assert_eq!(truncate_chars("short", 60), "short");
    }
}

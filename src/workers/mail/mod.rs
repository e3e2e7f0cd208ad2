//! Email as a channel: the IMAP intake ([`imap`]), the mail parser
//! ([`parse`]) that turns raw messages into what the desk takes in, and the
//! SMTP deliverer of the `email` outbox channel ([`smtp`]); [`oauth`]
//! refreshes XOAUTH2 access tokens for both.

pub mod imap;
pub mod oauth;
pub mod parse;
pub mod smtp;

//! Email as a channel: the IMAP intake ([`imap`]), the mail parser
//! ([`parse`]) that turns raw messages into what the desk takes in, and the
//! SMTP deliverer of the `email` outbox channel ([`smtp`]).

pub mod imap;
pub mod parse;
pub mod smtp;

//! Test support: helpers shared by the API integration tests.

pub mod dovecot;
pub mod postgres;
pub mod slack;
pub mod sms;
pub mod smtp;

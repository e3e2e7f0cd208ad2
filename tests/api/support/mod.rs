//! Test support: helpers shared by the API integration tests.

pub mod alertmanager;
pub mod browser;
pub mod clock;
pub mod console;
pub mod daemon;
pub mod desk;
pub mod discord;
pub mod dovecot;
pub mod gateway;
pub mod oauth;
pub mod oidc;
pub mod postgres;
pub mod s3;
pub mod slack;
pub mod sms;
pub mod smtp;
pub mod tcp_proxy;
pub mod ws;

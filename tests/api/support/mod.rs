//! Test support: helpers shared by the API integration tests.

pub mod postgres;
pub mod slack;

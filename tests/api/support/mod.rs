//! Test support: helpers shared by the API integration tests.

pub mod postgres;

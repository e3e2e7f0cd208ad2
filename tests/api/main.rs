//! Integration tests: the real daemon on a random port against a fresh
//! Postgres database per test (a throwaway cluster unless TEST_DATABASE_URL
//! is set), driven through HTTP as clients would.

mod accounts;
mod alerts;
mod approvals;
mod assignment;
mod bad_input;
mod browser;
mod changes;
mod chat_reports;
mod cmdb;
mod console;
mod console_admin;
mod console_processes;
mod discord;
mod dispatch_faults;
mod email;
mod escalation;
mod helpers;
mod idempotency;
mod identities;
mod isolation;
mod links;
mod merge;
mod notifications;
mod numbering;
mod ops;
mod outage;
mod problems;
mod reports;
mod rules;
mod schedules;
mod sla;
mod slack;
mod sqlite;
mod sso;
mod storage;
mod supervision;
mod support;
mod tenancy;
mod tickets;
mod time_tracking;
mod timers;
mod webhooks;

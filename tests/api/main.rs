//! End-to-end tests: a real server, a real PostgreSQL, HTTP as a client speaks it.

mod auth;
mod browser;
mod channels;
mod cli;
mod compiled;
mod contacts;
mod conversations;
mod fuzz;
mod generated;
mod hardening;
mod helpers;
mod http;
mod messages;
mod metrics;
mod outbox;
mod persisted;
mod read_gate;
mod readme;
mod search;
mod search_windows;
mod shapes;
mod statements;
mod subscriptions;
mod threads;
mod webhooks;
mod ws;

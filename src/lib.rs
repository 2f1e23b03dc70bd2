//! Salon: a self-hosted real-time chat server whose defining feature is external guests.
//!
//! The server is this library; `main.rs` only parses flags and calls [`App`]. See
//! ARCHITECTURE.md for the map: transport (`http`) → `services` → `store` / `mail`.

pub mod app;
pub mod bus;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod mail;
pub mod metrics;
pub mod ratelimit;
pub mod services;
pub mod store;
pub mod views;

pub use app::{App, StartError};
pub use config::Config;

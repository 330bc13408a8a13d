//! The API in process: the real router over a real SQLite store, driven request by request.

mod bad_input;
mod harness;
mod openapi;

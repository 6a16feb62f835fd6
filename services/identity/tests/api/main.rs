//! Identity's integration tests: the real service on port 0 against a fresh PostgreSQL database
//! per test, driven over HTTP and gRPC.

mod helpers;

mod failure;
mod grpc;
mod login;
mod operations;
mod register;
mod tokens;
mod users;

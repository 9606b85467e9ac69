//! Shared code for the example servers.

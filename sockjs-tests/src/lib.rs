//! SockJS conformance suite (work in progress).

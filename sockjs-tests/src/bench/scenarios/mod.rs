//! The scenarios, one module per family; [`super::run`] picks one.

pub(crate) mod bomb;
pub(crate) mod echo;
pub(crate) mod fanout;
pub(crate) mod flood;
pub(crate) mod idle;
pub(crate) mod rooms;

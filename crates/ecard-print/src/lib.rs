//! Card printer drivers (in progress).

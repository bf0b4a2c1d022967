//! Detection engine: Sigma rules compiled into one shared matcher, correlation, hunting.

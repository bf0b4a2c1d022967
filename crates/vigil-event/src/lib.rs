//! The Vigil event: normalized ECS fields, the source's original fields, the raw bytes and Vigil metadata. No I/O.

//! Vigil's query language: parsed into a backend-neutral plan, evaluated in memory or translated by a store.

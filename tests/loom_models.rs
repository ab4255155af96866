//! Loom models of writer-versus-snapshot races (see docs/DESIGN.md).

"""The test suite: real data, real models, the real interpreter (see docs/ARCHITECTURE.md)."""

"""Maintainers' tools: generators and simulators used by tests and benchmarks, not shipped in the wheel."""

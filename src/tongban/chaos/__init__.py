"""Chaos runs: node processes on PostgreSQL and a three-server JetStream cluster, faults on a seeded schedule,
and a classification of every operation (``tongban chaos``; docs/reliability.md)."""

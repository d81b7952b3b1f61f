"""Shared plumbing: settings, storage, clock, errors, translations, node context."""

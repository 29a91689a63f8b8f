"""Helpers shared by labcloud's test suites (importable as ``tests.support``)."""

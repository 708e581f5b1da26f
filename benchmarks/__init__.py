"""Benchmarks: measurements that print figures and write JSON (not tests, not library code).

Run from a checkout: ``python -m benchmarks.bench``, ``python -m benchmarks.synthetic``,
``python -m benchmarks.parity``.
"""

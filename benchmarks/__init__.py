"""Performance and fidelity benchmarks. Each module defines ``main(argv=None)`` and prints
times together with ratios against a baseline measured in the same run.

Run one with ``python -m benchmarks.topology_bench``, all with ``python -m benchmarks``.
"""

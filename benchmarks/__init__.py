"""rawdb benchmarks: rawdb against the bare drivers and SQLAlchemy 2 on the ``tasks`` table.

Run ``python -m benchmarks --help``. Workloads are defined in `benchmarks.workloads`,
contenders in `benchmarks.contenders`, the targets in `benchmarks.targets`.
"""

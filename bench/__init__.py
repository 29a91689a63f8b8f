"""Benchmarks: how fast labcloud moves jobs and bytes, measured (`python -m bench`).

One module per benchmark (submit, claim, claim_depth, latency, throughput, heartbeat,
bytes, listing), each with `run(cfg) -> list[Figure]`; `bench.stack` starts the
platform as processes, `bench.seed` fills databases directly, `bench.load` drives
concurrent HTTP clients, `bench.profile` records the APIs with py-spy (`--profile`),
`bench.report` turns a results file into Markdown. Results and analysis:
docs/benchmarks.md; `proposals/` holds product-code changes the figures argue for.
"""

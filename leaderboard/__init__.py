"""Leaderboard: a store of runs, comparable-only rankings with paired-bootstrap significance, static
tables (Markdown, CSV, JSON, HTML) and plots, and the CI regression gate.

Importing this package is cheap; numpy and matplotlib are imported where they are used. The only
inputs are the files ``longbench eval`` writes: ``results.json`` and ``samples.jsonl``.
"""

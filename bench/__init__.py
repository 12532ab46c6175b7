"""Benchmarks of st_jax against PyTorch peers: `python -m bench.run` (`make bench`).

One module per benchmark (train_step, mfu, decoding, frontend, pipeline, scaling), each with
NAME, TITLE and run(ctx) -> result dict; shared helpers in common.py, train-step runners in
steps.py, BENCHMARKS.md from the JSON results in report.py (plots.py when matplotlib exists).
"""

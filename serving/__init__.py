"""Serving: exported artifacts (`export.py`), a runtime that loads them with jax + numpy +
sentencepiece + soundfile only (`runtime.py`, `audio_io.py`, `artifact.py`) and an HTTP server
with dynamic batching (`server.py`, `batching.py`, `metrics.py`); `loadtest.py` measures it.

Only `export.py` imports `st_jax`; everything a deployment runs works without it installed.
"""

"""st_jax: speech translation and synthesis in JAX/Flax."""

__version__ = "0.1.0"

"""Models: layers, attention, conformer, transformer, heads, whole networks and the model API.

`build_model(config)` returns the object that training, evaluation and serving share
(see model_api.py for its methods and the batch keys it reads).
"""

from st_jax.models.model_api import (ClassifierModel, Encoded, Seq2SeqModel, build_model,
                                     example_batch)

__all__ = ["ClassifierModel", "Encoded", "Seq2SeqModel", "build_model", "example_batch"]

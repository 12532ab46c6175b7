"""`python -m serving export|serve ...`: `st-jax export|serve` without the st-jax CLI."""

import sys

from serving import cli

sys.exit(cli.main())

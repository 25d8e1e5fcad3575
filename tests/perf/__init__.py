"""Benchmarks (`make bench`). They measure local instances: the processes they start run as the
demo does (SOLDE_DEMO=1: fake providers, in-process or local broker), not as production."""

import os

os.environ.setdefault("SOLDE_DEMO", "1")

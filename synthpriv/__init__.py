"""synthpriv: privacy-preserving synthetic data for tabular data.

The Python API mirrors the CLI::

    from synthpriv import Pipeline
    result = Pipeline.from_yaml("pipelines/demo.yaml").run()

a synthetic table made elsewhere is judged with ``Evaluation.from_files(train, holdout,
synthetic, output_dir=...).run()``, and generators stand alone::

    from synthpriv import get_generator, load_generator, save_generator
    vae = get_generator("vae")(epochs=50)
    vae.fit(table)
    rows = vae.sample(1000, seed=1)
    save_generator(vae, "model/")  # and back: vae = load_generator("model/")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# torch and scikit-learn each bring an OpenMP runtime whose idle threads spin-wait; on a
# laptop's few cores they starve each other (a demo run measured 3x slower, validate after a
# GAN fit 25-50 s instead of 1.5 s). Passive waiting changes no result. Set before either
# runtime loads; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "Pipeline",
    "RunResult",
    "__version__",
    "available_generators",
    "get_generator",
    "load_config",
    "load_generator",
    "save_generator",
]

if TYPE_CHECKING:
    from synthpriv.config.loader import load_config
    from synthpriv.evaluate import Evaluation
    from synthpriv.generators.model_files import load_generator, save_generator
    from synthpriv.generators.registry import available_generators, get_generator
    from synthpriv.pipeline import Pipeline, RunResult

_LAZY = {
    "Evaluation": "synthpriv.evaluate",
    "Pipeline": "synthpriv.pipeline",
    "RunResult": "synthpriv.pipeline",
    "load_config": "synthpriv.config.loader",
    "get_generator": "synthpriv.generators.registry",
    "available_generators": "synthpriv.generators.registry",
    "load_generator": "synthpriv.generators.model_files",
    "save_generator": "synthpriv.generators.model_files",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import synthpriv` stays instant; torch loads only when a generator is used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'synthpriv' has no attribute {name!r}")

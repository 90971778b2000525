"""Offline fine-tuning of a deployed detector (``hazardwatch models train``, ARCHITECTURE.md §3).

Only :mod:`models.training.dataset`, :mod:`models.training.settings`,
:mod:`models.training.launcher` and :mod:`models.training.evaluate` import in the run-time venv.
The rest needs torch and onnx2torch (the ``[train]`` extra, installed in ``.venv-export`` by
``make export-venv``); ``models train`` runs it there as ``python -m models.training.trainer``.
"""

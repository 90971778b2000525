"""Labelled scenario suite for the hazard rules: a seeded generator of clips and their ground truth.

``python -m benchmarks.scenarios.generate --out DIR [--seed N] [--quick]`` writes a suite
directory that ``hazardwatch eval DIR`` replays and scores:

- ``clips/*.mp4``: H.264 (PyAV libx264, 25 fps, GOP 50, no B-frames, ``pts`` = frame index);
- ``configs/{facade,lane,lift}.yaml``: one hazardwatch config per scene type;
- ``suite.yaml``: the clips with their camera, tags and expected hazards (:mod:`.suite`);
- ``manifest.yaml``: what the generator made (version, frame counts, sprites kept), for the cache.

Three scene types: a facade seen from below with objects falling from windows and distractors
(:mod:`.facade`), a fire lane with real photographic vehicles and clutter (:mod:`.lane`), and a
lift car and a stairwell door with real e-bike photos (:mod:`.lift`). Vehicles, people and e-bikes
are crops of real photos (the repository's ``assets/`` or the shared test media), checked with
the real detector at generation time (:mod:`.sprites`). ``real_clips.yaml`` holds hand labels of
the real clips in the shared test media, in the same format.
"""

GENERATOR_VERSION = 4
"""Bump when generated content or labels change, so that cached suites are regenerated."""

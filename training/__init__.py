"""Training side of gan3d: one package per stage, each with its ``cli.py`` (registered by ``backend.train``):
importers of real image collections (``training.data``), the synthetic car testbed (``training.synth``),
templates, pose estimation, reconstruction, pseudo-ground-truth, the GAN and the whole pipeline. The collection
format itself is the ``dataformat`` package below it.

Importing ``training`` imports neither torch nor bpy.
"""

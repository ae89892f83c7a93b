"""Training side of gan3d: image collections (``training.data``) and the synthetic car testbed
(``training.synth``); later stages (pose estimation, reconstruction, pseudo-ground-truth, GAN) join here.

Importing ``training`` imports neither torch nor bpy.
"""

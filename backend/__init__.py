"""gan3d backend: generator, mesh template, renderer, exporters, ZeroMQ server and CLIs.

Importing ``backend`` (or ``backend.protocol`` / ``backend.client``) must never import torch:
the protocol and the client are shared with the Blender add-on.
"""

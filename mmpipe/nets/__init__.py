"""torch network definitions, one file per model family.

Importing ``mmpipe.nets`` does not import torch; importing a family module does. Only
``mmpipe.train``, ``mmpipe.export`` and the torch backend of ``mmpipe.runtime`` use them.
"""

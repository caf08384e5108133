"""Data recipes and training loops behind ``mmpipe train`` (needs the ``train`` extra)."""

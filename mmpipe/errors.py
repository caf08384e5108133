"""The error hierarchy: every message says what is wrong and what to do about it."""


class MmpipeError(Exception):
    """Root of every error mmpipe raises on purpose."""


class MediaError(MmpipeError):
    """A media file cannot be read or written as asked."""


class ConfigError(MmpipeError):
    """An option, a stage or a combination of them is invalid."""


class ModelError(MmpipeError):
    """A shipped model is missing, corrupt or does not match the runtime."""


class ExportError(MmpipeError):
    """Exporting a model failed or its exported form does not match the original."""

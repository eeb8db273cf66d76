"""Exceptions for user errors (bad input, bad models, bad options).

Every message names the file, the value and what was expected.
"""

from __future__ import annotations


class HcsError(Exception):
    """Base class for errors a user can fix; the CLI prints them as one line."""


class PlateError(HcsError):
    """A plate folder or manifest that cannot be read as a plate."""


class LayoutError(PlateError):
    """No known layout matches a folder, or a file name does not parse."""


class ImageReadError(HcsError):
    """An image file that cannot be read (truncated, not a TIFF, too large, bad dtype)."""


class ChannelMismatchError(HcsError):
    """Channels of a field, a plate or a model card that do not agree."""


class MetadataError(HcsError):
    """A metadata / plate-map / manifest CSV with missing columns or bad values."""


class ModelCardError(HcsError):
    """A model card that is missing keys, has wrong types or fails its checksums."""


class ConfigError(HcsError):
    """An option value that is out of range or inconsistent."""


class HcsWarning(UserWarning):
    """Something about the input a user should know that does not stop the command (one line in the CLI)."""

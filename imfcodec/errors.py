"""The one error type the user sees. Torch-free: imfcodec.bitstream raises it too.

Anything derived from ImfcodecError is a problem the user can fix (a bad file, a bad
option, a missing model) and the command line prints it as one line. Any other exception
is a bug: the command line names it and says how to see the traceback.
"""

from __future__ import annotations


class ImfcodecError(Exception):
    """An error the user can fix; its message is one line that names the culprit."""


class ConfigError(ImfcodecError, ValueError):
    """A configuration, recipe or option value that cannot be used."""

"""The .imf container and the entropy coding of integer symbols. Never imports torch."""

from .container import FormatError, GroupRecord, ImfFile, Reader, Writer

__all__ = ["FormatError", "GroupRecord", "ImfFile", "Reader", "Writer"]

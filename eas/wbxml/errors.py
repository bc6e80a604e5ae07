class WBXMLError(ValueError):
    """A document that is not valid EAS WBXML; `offset` is the byte where decoding stopped."""

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        super().__init__(message if offset is None else f"{message} at byte {offset}")


class WBXMLLimitError(WBXMLError):
    """A document past one of the decoder's bounds (size, depth, element count; eas/limits.py):
    refused like any malformed document, but named apart so a log says why."""

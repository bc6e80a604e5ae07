class WBXMLError(ValueError):
    """A document that is not valid EAS WBXML; `offset` is the byte where decoding stopped."""

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        super().__init__(message if offset is None else f"{message} at byte {offset}")

"""The bounds one request may use, in one place (the README's "Limits" table lists them with
server/limits.py's connection bounds).  Each is a number a hostile or broken client must not be
able to exceed by sending more: beyond it the request gets a protocol answer, never more memory.

Exchange's names where it has one; Exchange's own defaults are lower (IIS's maxAllowedContentLength
and the ActiveSync web.config's MaxDocumentDataSize are about 10 MB): a lab server errs on the side
of accepting what a real phone sends.
"""

# The request body, counted while it streams in (chunked bodies included): HTTP 413 beyond it.
# IIS's maxAllowedContentLength in Exchange.
MAX_REQUEST_SIZE = 64 * 1024 * 1024

# WBXML decoding (eas/wbxml/codec.py).  Real documents nest about 12 deep; the element bound is far
# above any real request (a Sync of 512 changes of 40 properties is ~25,000) and keeps the decoded
# tree of a hostile body to about 12 MB whatever its size; decoded strings are slices of the body,
# so they never outgrow it.  Beyond a bound: a WBXMLLimitError, answered as malformed WBXML (400).
WBXML_MAX_DEPTH = 64
WBXML_MAX_ELEMENTS = 100_000

# A body at least this large is decoded in a worker thread, so the event loop keeps serving other
# users (a held Ping's answer included) while it is read; an answer carrying this much inline
# content (ItemOperations data) is encoded in one.  Smaller ones take less than a thread hand-off.
DECODE_IN_THREAD_SIZE = 64 * 1024

# The content one ItemOperations answer carries in total: Exchange's MaxDocumentDataSize default
# (10,240,000 bytes in the ActiveSync web.config), applied to the whole answer rather than one
# document.  A Fetch whose data would take the answer past it gets Status 11 "The requested data
# size is too large" (MS-ASCMD 2.2.3.177.8).  Raise it with EASLAB_MAX_DOCUMENT_DATA_SIZE as an
# Exchange administrator raises MaxDocumentDataSize; the answer is held whole in memory, about
# three times its size at the peak (bench/exhaust.py).
MAX_ITEMOPERATIONS_SIZE = 10_240_000

# The item content one Sync answer carries in total, all its collections together (WindowSize alone
# lets a device ask for 512 whole MIME messages, gigabytes held in memory).  The same figure as
# MaxDocumentDataSize, the most content Exchange hands out in one answer: a window of 100 ordinary
# mails (~25 KB each with MIME) is about 2.5 MB, so real devices never meet it.  Past it the window
# ends early with MoreAvailable and the rest waits for the next Sync; the answer's first item is
# always sent, however large (its body cut as the device's options say), so a device always
# progresses: MS-ASCMD has no per-item "too large" status in Sync.
MAX_SYNC_SIZE = 10_240_000

# MS-ASCMD 3.1.5.10: the element counts Exchange (2010 SP2 RU6 and later) caps by default; an
# administrator may set others (EASLAB_MAX_SYNC_COMMANDS, EASLAB_MAX_ESTIMATE_COLLECTIONS).  Past the
# first, a Sync is Status 4; past the second, a GetItemEstimate is Status 103.
MAX_SYNC_COMMANDS = 200  # Add, Change, Delete and Fetch of one Sync request, all collections together
MAX_ESTIMATE_COLLECTIONS = 1000  # Collection elements of one GetItemEstimate

"""The Exchange ActiveSync protocol, without I/O.

Everything here turns bytes and typed values into other bytes and typed values: the WBXML codec,
request parsing, one module per command, provisioning documents, the device-access decision.  It
never imports `server` or `storage` and never touches a socket, a file or a database, in the
sans-I/O style of h11 and h2; the server layer feeds it and carries out what it returns.
"""

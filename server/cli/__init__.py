"""The `easlab` command line: root.py (the root group and `serve`) and one module per command
group (user, wbxml, access for org and rule, device, policy, directory, imports, client, testing
for fault and trace); common.py is what they share."""
from __future__ import annotations

from .root import main

__all__ = ["main"]

"""`python -m easlab.server.cli`, as the pytest plugin's process mode runs the server."""
from .root import main

main()

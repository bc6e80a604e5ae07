"""Everything that touches a socket or the process: the Starlette app, SMTP, the push hub, the CLI."""

"""The admin center under /ecp: wiring.py (secret, headers, router), sessions.py (accounts,
sessions, CSRF; shared with /api) and pages.py (the pages)."""

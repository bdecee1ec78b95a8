"""Developer and CI helpers (see testenv.py); a package so tests can import them."""

"""Build-time helpers shared by setup.py, the Makefile and the staleness check."""

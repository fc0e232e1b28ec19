"""The Jinja2 templates of every backend (package data of ``symcell.templates``; no code)."""

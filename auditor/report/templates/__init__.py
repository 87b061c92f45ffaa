"""Jinja2 templates of the HTML report (a package so setuptools ships its *.j2 files as package data)."""

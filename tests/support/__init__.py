"""Helpers tests share: a virtual X display, a PulseAudio null sink, generated sound folders.

Each helper starts a real program and stops it again; fixtures in ``tests/conftest.py`` wrap
them. Nothing here is imported by the app.
"""

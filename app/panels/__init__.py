"""Dockable panels of the main window; each can be built and tested on its own."""

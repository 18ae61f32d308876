"""Dialogs of the studio (export)."""

"""Timbre Lab's Qt desktop application. Imports ``synth_core``; never imported by it."""

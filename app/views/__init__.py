"""Views that show sounds (waveform, spectrogram)."""

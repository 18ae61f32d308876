"""Small reusable widgets of the studio: slider rows, the XY morph pad, the keyboard strip."""

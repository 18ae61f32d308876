"""Every CLI handler and its terminal output; library modules stay silent.

Each module here turns parsed command-line arguments into calls on the
library (synth_core.*), prints what the user should see and maps typed
errors to exit codes. Library modules return data, raise TimbreLabError
subclasses or report through callbacks; they never print.
"""

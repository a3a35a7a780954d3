"""The command-line programs behind ``bin/`` (and the console scripts of the same names)."""

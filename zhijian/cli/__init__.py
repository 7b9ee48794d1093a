"""The ``zhijian`` command line."""

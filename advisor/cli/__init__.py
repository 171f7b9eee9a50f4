"""The ``quant-advisor`` command line: thin click commands over the other packages."""

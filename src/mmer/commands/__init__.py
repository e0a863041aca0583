"""One module per ``mmer`` command. Each declares ``arguments(parser)`` (its options) and ``run(args) -> int`` (its
exit code); :mod:`mmer.cli` holds the table of commands and loads a command's module only when it runs, so that
``mmer --help`` stays quick. The library functions the commands call are what the tests call."""

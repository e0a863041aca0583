"""One module per ``mmer`` command, each with ``run(args) -> int`` (its exit code) beside the library functions it
calls (which the tests call too). :mod:`mmer.cli` holds the table of commands with their arguments and loads a
command's module only when it runs, so that ``mmer --help`` and ``mmer COMMAND --help`` stay quick."""

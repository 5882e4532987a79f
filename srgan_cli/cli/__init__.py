"""The command line: the Typer app, one module per command, the console."""

from scripts.cli import cli

cli(prog_name="python -m scripts")

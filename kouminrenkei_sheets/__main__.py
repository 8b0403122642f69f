"""``python -m kouminrenkei_sheets`` runs the command line."""

from .cli import main

main()

"""``python -m daix`` runs the command line."""

from daix.cli import main

main()

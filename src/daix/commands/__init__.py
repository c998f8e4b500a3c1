"""Click sub-commands of ``daix``, one module per concern, each imported only when used."""

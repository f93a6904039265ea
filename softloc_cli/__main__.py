"""``python -m softloc_cli`` runs the ``softloc`` command (useful where scripts are not on PATH)."""

from .cli import main

if __name__ == "__main__":
    main()

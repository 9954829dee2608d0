"""``python -m connector`` runs the command line."""

from connector.cli import main

if __name__ == "__main__":
    main()

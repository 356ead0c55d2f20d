"""`python -m synthloom` runs the CLI."""

from synthloom.interface.cli import main

if __name__ == "__main__":
    main()

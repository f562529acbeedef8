"""Allow ``python -m drfc``."""

from drfc.cli.main import main

if __name__ == "__main__":
    main()

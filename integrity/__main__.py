"""`python -m integrity` is the `integrity` command."""

from integrity.cli import main

main()

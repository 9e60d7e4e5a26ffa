"""`python -m goodword_tui` runs the CLI (the demo starts the sandbox this way)."""

from goodword_tui.cli import main

main()

"""`python -m goodword_tui` and the `goodword-tui` command: the CLI, started with the collector paused
(`startup`) before anything heavy is imported."""

from goodword_tui import startup


def run() -> None:
    startup.pause()
    from goodword_tui.cli import main

    main()


if __name__ == "__main__":
    run()

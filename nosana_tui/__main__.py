from nosana_tui.cli.main import run

run()

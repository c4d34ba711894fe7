from nosana_tui.entry import run

run()

"""Who you are to the Nosana network, and how a node knows it: the API key and the wallet
(``keys``), and the signed ``authorization`` header a Nosana node checks (``signing``).

Pure: no HTTP, no other layer but the settings. The network client signs with it and the agent
verifies with it, so both read the one format.
"""

"""`vmkit`, the command line: for people at a terminal (over the REST API) and operators.

`main` assembles the commands (`commands/`); `client` is the typed REST client the
commands and the tests share.
"""

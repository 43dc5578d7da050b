"""One guest connection to one stack port: what qemu runs for each `guestfwd` connection.

qemu's `guestfwd=…-tcp:host:port` form opens a single connection when qemu starts and
never another, so a guest could dial the stack only once; the `cmd:` form runs a
command per connection, with the connection as its stdin and stdout. This is that
command: `python -I relay.py PORT` joins the two until either side closes.
"""

import os
import socket
import sys
import threading


def relay(port: int) -> None:
    upstream = socket.create_connection(("127.0.0.1", port))

    def guest_to_stack() -> None:
        while data := os.read(0, 65536):
            upstream.sendall(data)
        upstream.shutdown(socket.SHUT_WR)

    threading.Thread(target=guest_to_stack, daemon=True).start()
    while data := upstream.recv(65536):
        os.write(1, data)


if __name__ == "__main__":
    relay(int(sys.argv[1]))

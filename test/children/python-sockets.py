# A program that is not Node, for `tcp-keepalive apply`: python3 holding a
# listener, a client connection to it and the accepted end, none with
# keepalive. With the argument "mptcp" every socket is Multipath TCP.
# Prints {"port", "client"} as one JSON line, then one line per connection
# accepted later ({"accepted": <peer port>}); runs until stdin closes.
import json
import socket
import sys
import threading

protocol = 262 if sys.argv[1:] == ["mptcp"] else 0  # IPPROTO_MPTCP

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
port = listener.getsockname()[1]
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
client.connect(("127.0.0.1", port))
held = [client, listener.accept()[0]]


def accept_more():
    while True:
        connection, peer = listener.accept()
        held.append(connection)
        print(json.dumps({"accepted": peer[1]}), flush=True)


threading.Thread(target=accept_more, daemon=True).start()
print(json.dumps({"port": port, "client": client.getsockname()[1]}), flush=True)
sys.stdin.read()

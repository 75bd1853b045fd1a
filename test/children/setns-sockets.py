# A process whose sockets are in two network namespaces: a listener, a client
# connection and its accepted end opened first, then unshare(CLONE_NEWNET) and a
# listener in the new namespace. /proc/<pid>/net/tcp now shows only the new
# namespace. Prints the ports as one JSON line, then sleeps until killed.
import ctypes, json, socket, sys, time

first = socket.create_server(('127.0.0.1', 0))
client = socket.create_connection(first.getsockname())
accepted, _ = first.accept()
if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:  # CLONE_NEWNET
    sys.exit(f'unshare(CLONE_NEWNET) failed: errno {ctypes.get_errno()}')
later = socket.create_server(('0.0.0.0', 0))
print(json.dumps({'first': first.getsockname()[1], 'client': client.getsockname()[1], 'later': later.getsockname()[1]}), flush=True)
time.sleep(120)

# A process whose main thread exits (pthread_exit) while another thread runs
# on, accepting connections: its leader reads as a zombie in /proc, yet it is
# alive. Prints its port as one JSON line. ctypes releases the GIL for the
# call, so the other thread keeps running Python.
import ctypes, json, socket, threading, time

server = socket.create_server(('127.0.0.1', 0))


def serve():
    while True:
        conn, _ = server.accept()
        threading.Thread(target=lambda c=conn: time.sleep(120), daemon=True).start()


threading.Thread(target=serve).start()
print(json.dumps({'port': server.getsockname()[1]}), flush=True)
ctypes.CDLL(None).pthread_exit(None)

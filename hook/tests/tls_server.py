"""One-connection TLS server for tls_unittest.cc: prints its port, accepts one client (a client certificate
signed by CA_FILE required), prints the request head on one line ("HEAD ...") or why the handshake failed
("REFUSED ..."), answers 200 with a small JSON body. Arguments: CERT KEY CA_FILE."""
import socket
import ssl
import sys

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(sys.argv[3])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(10)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
try:
    tls = ctx.wrap_socket(conn, server_side=True)
    head = b""
    while b"\r\n\r\n" not in head:
        data = tls.recv(4096)
        if not data:
            break
        head += data
    body = b'{"66": "0.0.0.0"}'
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)
    print("HEAD " + head.decode(errors="replace").replace("\r\n", "|"), flush=True)
    tls.close()
except (ssl.SSLError, OSError) as exc:
    print(f"REFUSED {type(exc).__name__}", flush=True)

#!/usr/bin/env python3
"""A real SMTP server for the alert tests (aiosmtpd, Debian's python3-aiosmtpd).

Binds 127.0.0.1 on a port chosen by the kernel and prints "listening on 127.0.0.1:<port> (smtp)".
STARTTLS is required before MAIL (unless --plain, which offers no TLS at all) and so is AUTH, with
the user "d4" and the password "secret". Each message is written to <out>/<n>.json with the
envelope, whether the session was encrypted and authenticated, and the message text.
"""
import argparse
import asyncio
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "auth": session.authenticated,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        path = os.path.join(self.out, "%06d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)  # readers never see half a file
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"d4" and auth_data.password == b"secret"
    return AuthResult(success=ok)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plain", action="store_true", help="offer no STARTTLS")
    args = parser.parse_args()
    context = None
    if not args.plain:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    handler = Handler(args.out)

    def factory():
        return SMTP(handler, hostname="localhost", tls_context=context, require_starttls=not args.plain,
                    authenticator=authenticator, auth_required=not args.plain, auth_require_tls=not args.plain)

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print("listening on 127.0.0.1:%d (smtp)" % port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

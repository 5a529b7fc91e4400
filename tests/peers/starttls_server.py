"""A STARTTLS server for the tests: plain text until the client sends
STARTTLS, then TLS on the same connection (Python's ssl and asyncio).

usage: starttls_server.py CERT KEY MODE

MODE "normal" answers "220 go" and upgrades; "inject" sends "220 go" and a
plaintext line in the same segment, as an attacker in the middle would.
Prints "listening on 127.0.0.1:PORT"; serves one client, then exits.
"""
import asyncio
import ssl
import sys


async def main() -> None:
    cert, key, mode = sys.argv[1:4]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if line.strip() != b"STARTTLS":
                writer.write(b"500 expected STARTTLS\r\n")
                await writer.drain()
                return
            if mode == "inject":
                writer.write(b"220 go\r\nINJECTED\r\n")
                await writer.drain()
                rest = await reader.read(100)
                writer.write(b"plain after refusal: " + rest)
                await writer.drain()
                return
            writer.write(b"220 go\r\n")
            await writer.drain()
            await writer.start_tls(context)
            line = await reader.readline()
            writer.write(b"tls: " + line)
            await writer.drain()
        except Exception as error:  # report, never crash
            print(f"server error: {error!r}", flush=True)
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await asyncio.wait_for(done.wait(), 20)


asyncio.run(main())

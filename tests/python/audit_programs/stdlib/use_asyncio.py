"""asyncio: run, tasks, gather, queues, locks, timeouts, a server."""
import asyncio


async def worker(q, out):
    while True:
        item = await q.get()
        out.append(item * 2)
        q.task_done()


async def echo(reader, writer):
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


async def main():
    q, out = asyncio.Queue(), []
    tasks = [asyncio.create_task(worker(q, out)) for _ in range(3)]
    for i in range(10):
        q.put_nowait(i)
    await q.join()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lock = asyncio.Lock()
    async with lock:
        await asyncio.sleep(0)
    try:
        await asyncio.wait_for(asyncio.sleep(10), 0.01)
    except TimeoutError:
        pass
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\n")
    print((await reader.readline()).decode().strip(), sorted(out))
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


asyncio.run(main())

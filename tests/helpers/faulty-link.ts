import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of one server, for faults a real network has: `stall()` holds
 * every byte in both directions (the connections stay open, as behind a hung switch), `cut()` drops
 * every connection and refuses new ones, `heal()` ends either. Free of vitest, so the fault suite
 * (`npm run chaos`) uses it too.
 */
export interface FaultyLink {
  /** The upstream URL with host and port replaced by the proxy's. */
  readonly url: string;
  stall(): void;
  cut(): void;
  heal(): void;
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

export async function openFaultyLink(upstreamUrl: string): Promise<FaultyLink> {
  const upstream = new URL(upstreamUrl);
  const pairs = new Set<[Socket, Socket]>();
  // Bytes a stall holds, in arrival order, with the socket each was on its way to.
  let held: Array<[Socket, Buffer]> = [];
  let state: 'open' | 'stalled' | 'cut' = 'open';
  const forward = (from: Socket, to: Socket) => from.on('data', (chunk: Buffer) => {
    if (state === 'stalled') held.push([to, chunk]);
    else to.write(chunk);
  });
  const proxy = createServer((client) => {
    if (state === 'cut') return client.destroy();
    const server = connect({ host: upstream.hostname, port: Number(upstream.port) });
    const pair: [Socket, Socket] = [client, server];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const socket of pair) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    forward(client, server);
    forward(server, client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as { port: number };
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const link: FaultyLink = {
    url: url.toString(),
    stall() {
      state = 'stalled';
    },
    cut() {
      state = 'cut';
      held = [];
      for (const [client, server] of [...pairs]) {
        client.destroy();
        server.destroy();
      }
    },
    heal() {
      state = 'open';
      for (const [to, chunk] of held) if (!to.destroyed) to.write(chunk);
      held = [];
    },
    async close() {
      link.cut();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
  return link;
}

import { connect, createServer, type Server, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import { openFaultyLink, type FaultyLink } from '../helpers/faulty-link.js';

export type { FaultyLink };

/** A stallable, cuttable TCP proxy in front of `upstreamUrl`, closed when the test finishes. */
export async function faultyLink(upstreamUrl: string): Promise<FaultyLink> {
  const link = await openFaultyLink(upstreamUrl);
  onTestFinished(() => link.close());
  return link;
}

/**
 * A proxy that can hold what the server sends, its closing included, and deliver it all later: a
 * slow network, where what the server said before it went away still arrives.
 */
export async function holdingLink(upstreamUrl: string) {
  const upstream = new URL(upstreamUrl);
  let held: Buffer[] | null = null;
  let serverEnded = false;
  let toClient: Socket | undefined;
  let withheld: { text: string; seen: () => void } | undefined;
  const proxy = createServer((client) => {
    toClient = client;
    const server = connect({ host: upstream.hostname, port: Number(upstream.port) });
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => {
      if (withheld && chunk.includes(withheld.text)) withheld.seen();
      else server.write(chunk);
    });
    client.on('close', () => server.destroy());
    server.on('data', (chunk: Buffer) => (held ? held.push(chunk) : client.write(chunk)));
    server.on('close', () => {
      serverEnded = true;
      if (!held) client.end();
    });
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  onTestFinished(() => new Promise<void>((done) => {
    toClient?.destroy();
    proxy.close(() => done());
  }));
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as { port: number }).port);
  return {
    url: url.toString(),
    hold() {
      held = [];
    },
    /** Never passes on the statement containing `text`; resolves once the client has sent it. */
    withhold(text: string): Promise<void> {
      return new Promise((seen) => {
        withheld = { text, seen };
      });
    },
    release() {
      for (const chunk of held ?? []) toClient?.write(chunk);
      held = null;
      if (serverEnded) toClient?.end();
    },
  };
}

/** A port nothing listens on. */
export async function refusingPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** A port that accepts connections and never says a word, until the test finishes. */
export async function silentPort(): Promise<number> {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  silent.on('connection', (socket) => onTestFinished(() => { socket.destroy(); }));
  return (silent.address() as { port: number }).port;
}

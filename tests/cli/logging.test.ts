import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logDestination, logSerializers } from '../../src/logging.js';

function terminal(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let written = '';
  stream.on('data', (chunk) => { written += String(chunk); });
  return { stream, written: () => written };
}

describe('the server\'s logs', () => {
  it('are JSON lines when stdout is not a terminal (a file, a pipe, a log collector)', async () => {
    expect(await logDestination(terminal(false).stream)).toBeUndefined();
  });

  it('are one readable line per event on a terminal, through pino-pretty', async () => {
    const out = terminal(true);
    const destination = await logDestination(out.stream);
    expect(destination).toBeDefined();
    const log = pino({ name: 'strata-test', serializers: logSerializers }, destination);
    log.info({ reqId: 'req-1', res: { statusCode: 201 } }, 'request completed');
    const lines = out.written().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(() => JSON.parse(lines[0]!)).toThrow();
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.* \(strata-test\): .*request completed.*"reqId":"req-1","res":\{"statusCode":201\}/);
    expect(out.written()).not.toMatch(/"pid"|hostname/);
  });
});

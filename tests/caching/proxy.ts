import { onTestFinished } from 'vitest';
import { openFaultyLink, type FaultyLink } from '../helpers/faulty-link.js';

export type { FaultyLink };

/** A stallable, cuttable TCP proxy in front of `upstreamUrl`, closed when the test finishes. */
export async function faultyLink(upstreamUrl: string): Promise<FaultyLink> {
  const link = await openFaultyLink(upstreamUrl);
  onTestFinished(() => link.close());
  return link;
}

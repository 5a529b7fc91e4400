// The Deno `sock` needs: an older one fails in ways a user cannot read (a
// runtime backtrace on the Unix flow), so sock says so first, in one line.

/** The oldest Deno `sock` runs on. */
const OLDEST_DENO = [2, 9, 6] as const;

/**
 * The one line to print when Deno `version` is older than `sock` needs,
 * else undefined.
 */
export function tooOldDeno(version: string): string | undefined {
  const parts = version.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < OLDEST_DENO.length; i++) {
    const part = parts[i] ?? 0;
    if (part > OLDEST_DENO[i]!) return undefined;
    if (part < OLDEST_DENO[i]!) {
      return `sock needs Deno ${
        OLDEST_DENO.join(".")
      } or later, and this is Deno ${version}: upgrade with deno upgrade (or npm install -g deno@${
        OLDEST_DENO.join(".")
      })`;
    }
  }
  return undefined;
}

// Loaded before every test module by `deno task test` (--preload): an
// example in the docs, which `deno test --doc` runs as a test of its own,
// fails when it has not finished within DOC_DEADLINE instead of hanging the
// run. An example on loopback takes milliseconds; one that waits on a read
// the library never completes (a broken flush()) would otherwise wait for
// ever, since an example has no deadline of its own. Tests registered by
// the test files are left as they are: they bound themselves.

/** How long one example in the docs may take, in milliseconds. */
const DOC_DEADLINE = 2_000;

/** A test made from a docs example: named by its file URL and lines, `file:///…/x.ts#12-30.ts`. */
const DOC_EXAMPLE = /^file:\/\/.*#\d+-\d+\.[jt]sx?$/;

const register = Deno.test;

/** The test as one definition, whichever way `Deno.test` was called. */
function definition(
  args: unknown[],
): Deno.TestDefinition | undefined {
  const [first, second, third] = args;
  if (typeof first === "string") {
    const fn = (typeof second === "function" ? second : third) as
      | Deno.TestDefinition["fn"]
      | undefined;
    const options = typeof second === "object" ? second : {};
    return fn ? { ...options, name: first, fn } : undefined;
  }
  if (typeof first === "object" && first !== null) {
    return first as Deno.TestDefinition;
  }
  return undefined;
}

const bounded = function (...args: unknown[]): void {
  const test = definition(args);
  if (test === undefined || !DOC_EXAMPLE.test(test.name)) {
    return (register as (...a: unknown[]) => void)(...args);
  }
  const fn = test.fn;
  register({
    ...test,
    async fn(t) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `the example did not finish within ${DOC_DEADLINE} ms`,
              ),
            ),
          DOC_DEADLINE,
        );
      });
      try {
        await Promise.race([fn(t), late]);
      } finally {
        clearTimeout(timer);
      }
    },
  });
};
// Deno.test is writable at run time, though its type says read-only.
Object.defineProperty(Deno, "test", {
  value: Object.assign(bounded, register),
});

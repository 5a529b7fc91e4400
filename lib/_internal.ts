// Keys of the library's own methods on its classes: a module that holds a
// key can call the method; a program using the library cannot reach it.

/** `socket[abortWith](error)`: closes at once; reads and writes fail with `error`. */
export const abortWith: unique symbol = Symbol("abortWith");

/** `socket[setProxy](header)`: records the PROXY header the connection began with. */
export const setProxy: unique symbol = Symbol("setProxy");

/**
 * `socket[tally]()`: bytes received and sent so far, and what reading (or
 * else writing) failed with; a server reads it once, when the connection
 * ends.
 */
export const tally: unique symbol = Symbol("tally");

/** `socket[connectedAs](name)`: records the host name connect() was given. */
export const connectedAs: unique symbol = Symbol("connectedAs");

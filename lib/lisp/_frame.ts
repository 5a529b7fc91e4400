// The reader's explicit stack: one frame per open list, vector, quote or
// `#C`, so that nesting depth costs memory, never the call stack.
import type { LispDatum } from "./types.ts";

/** What a frame is reading. */
export const enum Nest {
  List,
  Vector,
  Quote,
  Function,
  Complex,
}

/** Where a list is: among its elements, after its dot, or after its tail. */
export const enum Part {
  Items,
  Tail,
  Close,
}

/** What each kind of frame reads, for "unexpected end of input" messages. */
export const NEST_WHAT: readonly string[] = [
  "list",
  "vector",
  "quoted datum",
  "function name",
  "complex number",
];

const NO_ITEMS: LispDatum[] = [];

/** One open list, vector, quote or `#C` on the reader's explicit stack. */
export class Frame {
  readonly kind: Nest;
  /** Offset of the form's first byte, for error messages. */
  readonly start: number;
  /** The frame this one is nested in. */
  readonly up: Frame | undefined;
  /** The nesting depth of the forms read inside this one. */
  readonly depth: number;
  /** The elements of a list or vector. */
  readonly items: LispDatum[];
  part: Part;
  /**
   * Whether this list is the tail after its parent's dot, as in
   * `(1 . (2 3))`: it adds its elements to its parent's, so a long chain of
   * dotted tails is read in linear time.
   */
  readonly spliced: boolean;
  /** How many of `items` belong to the parent of a spliced list. */
  readonly base: number;
  /** Offset of the list's dot, once read. */
  dot: number;
  /** The datum after the list's dot, once read. */
  tail: LispDatum | undefined;

  constructor(kind: Nest, start: number, up: Frame | undefined, depth: number) {
    const spliced = kind === Nest.List && up?.kind === Nest.List &&
      up.part === Part.Tail;
    this.kind = kind;
    this.start = start;
    this.up = up;
    this.depth = depth;
    this.items = spliced ? up.items : kind <= Nest.Vector ? [] : NO_ITEMS;
    this.part = Part.Items;
    this.spliced = spliced;
    this.base = spliced ? up.items.length : 0;
    this.dot = 0;
    this.tail = undefined;
  }

  /** Whether the frame is a list or vector collecting its elements. */
  get collecting(): boolean {
    return this.part === Part.Items && this.kind <= Nest.Vector;
  }
}

// The idle clock over a clock the test sets: no connection, no waiting.
import assert from "node:assert/strict";
import { IdleClock } from "../lib/_idle.ts";
import { test } from "./_helpers.ts";

const PURE = { permissions: "none" } as const;

/** Runs `body` with `performance.now()` returning what `at()` was last given. */
function withClock(body: (at: (ms: number) => void) => void): void {
  const real = performance.now;
  let now = 0;
  performance.now = () => now;
  try {
    body((ms) => now = ms);
  } finally {
    performance.now = real;
  }
}

test(
  "IdleClock: nothing waiting is never idle, however long it has been",
  () => {
    withClock((at) => {
      const clock = new IdleClock();
      at(1_000);
      assert.equal(clock.idleTime(0), 0);
      clock.beginWait();
      clock.endWait();
      at(5_000);
      assert.equal(clock.idleTime(0), 0);
    });
  },
  PURE,
);

test(
  "IdleClock: a wait is dated when first looked at, and counts from then",
  () => {
    withClock((at) => {
      const clock = new IdleClock();
      at(100);
      clock.beginWait();
      at(250);
      assert.equal(clock.idleTime(0), 0, "dated at the first look");
      at(400);
      assert.equal(clock.idleTime(0), 150);
      // A second read waiting beside it does not restart the wait.
      clock.beginWait();
      at(500);
      assert.equal(clock.idleTime(0), 250);
      clock.endWait();
      assert.equal(clock.idleTime(0), 250, "one read still waits");
      clock.endWait();
      assert.equal(clock.idleTime(0), 0);
    });
  },
  PURE,
);

test(
  "IdleClock: traffic seen at a look restarts the count from that look",
  () => {
    withClock((at) => {
      const clock = new IdleClock();
      clock.beginWait();
      at(10);
      assert.equal(clock.idleTime(0), 0);
      at(300);
      assert.equal(clock.idleTime(3), 0, "traffic moved since the last look");
      at(700);
      assert.equal(clock.idleTime(3), 400);
      at(900);
      assert.equal(clock.idleTime(4), 0);
      at(950);
      assert.equal(clock.idleTime(4), 50);
    });
  },
  PURE,
);

test(
  "IdleClock: a flush waiting on the peer counts as a wait, and a read beside it keeps its start",
  () => {
    withClock((at) => {
      const clock = new IdleClock();
      clock.beginDrain();
      assert.equal(clock.draining, true);
      at(100);
      assert.equal(clock.idleTime(0), 0);
      at(200);
      assert.equal(clock.idleTime(0), 100);
      clock.beginWait();
      at(300);
      assert.equal(clock.idleTime(0), 200, "the read joins the drain's wait");
      clock.endWait();
      clock.draining = false;
      assert.equal(clock.idleTime(0), 0);
      // A drain that starts while a read waits keeps the read's start.
      at(1_000);
      clock.beginWait();
      at(1_100);
      assert.equal(clock.idleTime(0), 0);
      at(1_200);
      clock.beginDrain();
      at(1_300);
      assert.equal(clock.idleTime(0), 200);
    });
  },
  PURE,
);

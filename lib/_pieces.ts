// A new socket's first read buffer, and its first write buffer, is a piece
// of a shared slab: allocating an ArrayBuffer costs far more than a
// subarray, and most connections never need more than a piece. A closed
// socket gives its pieces back when no read or write still holds them.

/** The size of one piece, in bytes. */
export const PIECE_SIZE = 1024;
const SLAB_SIZE = 64 * PIECE_SIZE;
const MAX_FREE_PIECES = 1024;
const freePieces: Uint8Array[] = [];

/** A free piece of a slab, carving a new slab when none is free. */
export function takePiece(): Uint8Array {
  const piece = freePieces.pop();
  if (piece !== undefined) return piece;
  const slab = new Uint8Array(SLAB_SIZE);
  for (let at = SLAB_SIZE - PIECE_SIZE; at > 0; at -= PIECE_SIZE) {
    freePieces.push(slab.subarray(at, at + PIECE_SIZE));
  }
  return slab.subarray(0, PIECE_SIZE);
}

/** Gives a piece back; nothing may use it afterwards. */
export function givePiece(piece: Uint8Array): void {
  if (freePieces.length < MAX_FREE_PIECES) freePieces.push(piece);
}

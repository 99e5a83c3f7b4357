// Exact order statistics (k-th smallest) in O(n) expected time, without sorting: Floyd-Rivest
// selection on a caller-owned scratch buffer, so hot loops (the clock filter, per NTP sample)
// allocate nothing. Ranks are 0-based and the values agree with Float64Array.prototype.sort (NaN
// last; where both -0 and +0 occur, a zero's sign may differ).

/** Iterations before selection gives up on partitioning and sorts the rest (guaranteed O(n log n)). */
const MAX_SELECT_ROUNDS = 64;
/** Ranges longer than this first narrow the pivot by recursing on a sample (Floyd-Rivest). */
const SAMPLE_ABOVE = 600;

/**
 * Rearranges a[left..right] (inclusive, no NaN) so that a[k] holds the value of rank k - left in
 * that range, everything in a[left..k) is <= a[k] and everything in a(k..right] is >= a[k]; returns
 * a[k]. Floyd & Rivest, "Algorithm 489: SELECT" (CACM 1975).
 */
export function selectInPlace(a: Float64Array, k: number, left = 0, right = a.length - 1): number {
  if (k < left || k > right) throw new RangeError(`rank ${k} outside [${left}, ${right}]`);
  let rounds = 0;
  while (right > left) {
    if (++rounds > MAX_SELECT_ROUNDS) {
      // Pathological input: sort what is left (keeps the same partition guarantees).
      a.subarray(left, right + 1).sort();
      break;
    }
    if (right - left > SAMPLE_ABOVE) {
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      selectInPlace(a, k, newLeft, newRight);
    }
    const t = a[k] as number;
    let i = left;
    let j = right;
    swap(a, left, k);
    if ((a[right] as number) > t) swap(a, left, right);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while ((a[i] as number) < t) i++;
      while ((a[j] as number) > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
  return a[k] as number;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i] as number;
  a[i] = a[j] as number;
  a[j] = t;
}

/**
 * Copies values[0..n) into scratch[0..n) with NaNs moved to the end; returns how many are not NaN.
 * scratch.length must be >= n.
 */
export function copyNaNLast(values: ArrayLike<number>, n: number, scratch: Float64Array): number {
  let lo = 0;
  let hi = n;
  for (let k = 0; k < n; k++) {
    const v = values[k] as number;
    if (v === v) scratch[lo++] = v;
    else scratch[--hi] = v;
  }
  return lo;
}

/**
 * The value at 0-based rank k of values[0..n) (what Float64Array.from(values).sort()[k] is, NaN
 * last), or undefined if k is out of range. values is left untouched; scratch (length >= n) is
 * overwritten.
 */
export function kthSmallest(values: ArrayLike<number>, n: number, k: number, scratch: Float64Array): number | undefined {
  if (!(k >= 0 && k < n)) return undefined;
  const finite = copyNaNLast(values, n, scratch);
  return k < finite ? selectInPlace(scratch, k, 0, finite - 1) : NaN;
}

/**
 * Two order statistics of values[0..n) from one copy (the larger rank is selected first, then the
 * smaller one within the part below it): out[0] = the value at rank k1, out[1] = at rank k2, each
 * as kthSmallest gives it. A rank out of [0, n) leaves its out slot untouched; the return value
 * says which were in range (bit 1: k1, bit 2: k2). values is left untouched; scratch (length >= n)
 * is overwritten.
 */
export function twoSmallest(
  values: ArrayLike<number>,
  n: number,
  k1: number,
  k2: number,
  scratch: Float64Array,
  out: Float64Array,
): number {
  const ok1 = k1 >= 0 && k1 < n;
  const ok2 = k2 >= 0 && k2 < n;
  if (!ok1 && !ok2) return 0;
  const finite = copyNaNLast(values, n, scratch);
  const hiRank = ok1 && ok2 ? Math.max(k1, k2) : ok1 ? k1 : k2;
  const loRank = ok1 && ok2 ? Math.min(k1, k2) : hiRank;
  let hiVal = NaN;
  let loVal = NaN;
  if (hiRank < finite) {
    hiVal = selectInPlace(scratch, hiRank, 0, finite - 1);
    // scratch[0..hiRank) now holds the hiRank smallest values: the lower rank is among them.
    loVal = loRank === hiRank ? hiVal : selectInPlace(scratch, loRank, 0, hiRank - 1);
  } else if (loRank < finite) {
    loVal = selectInPlace(scratch, loRank, 0, finite - 1);
  }
  if (ok1) out[0] = k1 === hiRank ? hiVal : loVal;
  if (ok2) out[1] = k2 === hiRank ? hiVal : loVal;
  return (ok1 ? 1 : 0) | (ok2 ? 2 : 0);
}

/**
 * Two low order statistics of values[0..n) without copying or reordering values: one pass keeps
 * the (max(k1, k2) + 1) smallest in a bounded max-heap (most values fail a single comparison with
 * its top), then selects the smaller rank among those. Meant for ranks << n (a few % of n).
 * out[0] = the value at rank k1, out[1] = at rank k2, exactly as sorting would give them. Returns
 * false (out untouched) if values contains NaN or a rank is outside [0, n): then use twoSmallest.
 * heap.length must be >= max(k1, k2) + 1.
 */
export function twoLowRanks(values: ArrayLike<number>, n: number, k1: number, k2: number, heap: Float64Array, out: Float64Array): boolean {
  if (!(k1 >= 0 && k1 < n && k2 >= 0 && k2 < n)) return false;
  const hiRank = k1 > k2 ? k1 : k2;
  const loRank = k1 > k2 ? k2 : k1;
  const size = hiRank + 1;
  // Build a max-heap of the first `size` values (sift up).
  for (let k = 0; k < size; k++) {
    const v = values[k] as number;
    if (v !== v) return false;
    let c = k;
    while (c > 0) {
      const p = (c - 1) >> 1;
      const pv = heap[p] as number;
      if (pv >= v) break;
      heap[c] = pv;
      c = p;
    }
    heap[c] = v;
  }
  let top = heap[0] as number;
  for (let k = size; k < n; k++) {
    const v = values[k] as number;
    if (v < top) {
      // Replace the largest kept value and sift down.
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= size) break;
        const r = l + 1;
        let m = l;
        let mv = heap[l] as number;
        if (r < size && (heap[r] as number) > mv) {
          m = r;
          mv = heap[r] as number;
        }
        if (mv <= v) break;
        heap[c] = mv;
        c = m;
      }
      heap[c] = v;
      top = heap[0] as number;
    } else if (v !== v) return false;
  }
  // heap[0..size) are the `size` smallest values; the largest of them is the rank hiRank.
  const hiVal = top;
  const loVal = loRank === hiRank ? hiVal : selectInPlace(heap, loRank, 0, size - 1);
  out[0] = k1 === hiRank ? hiVal : loVal;
  out[1] = k2 === hiRank ? hiVal : loVal;
  return true;
}

/**
 * The median of a[0..n) exactly as sorting gives it (NaN last; the mean of the two middle values
 * when n is even), in O(n) expected time and without allocating (the DAC clock's robust fits run
 * on the engine's real-time thread). Reorders a[0..n). n >= 1.
 */
export function medianInPlace(a: Float64Array, n: number): number {
  let finite = n;
  for (let i = 0; i < finite;) {
    if (a[i] !== a[i]) swap(a, i, --finite);
    else i++;
  }
  const k = n >> 1;
  if (k >= finite) return NaN;
  const upper = selectInPlace(a, k, 0, finite - 1);
  if (n % 2 === 1) return upper;
  // Everything below rank k now sits in a[0..k): the lower middle value is their largest.
  let lower = a[0] as number;
  for (let i = 1; i < k; i++) if ((a[i] as number) > lower) lower = a[i] as number;
  return (lower + upper) / 2;
}

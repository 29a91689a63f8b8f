// How fast a transfer goes and how long it has left, from its progress over the last
// few seconds (so the figures follow a connection that speeds up or slows down).
import { formatBytes, formatDuration } from "./dom.js";

const WINDOW_MS = 3000;
const MIN_SPAN_MS = 400; // too short a span gives wild figures: none until then

export class RateMeter {
  constructor(windowMs = WINDOW_MS) {
    this.windowMs = windowMs;
    this.samples = []; // [time ms, bytes done]
    this.started = null;
  }

  /** Record that `done` bytes are through at `now` (ms, performance.now()). */
  add(done, now = performance.now()) {
    if (this.started === null) this.started = now;
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[1][0] >= this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window, or null while it is too short to tell. */
  rate() {
    if (this.samples.length < 2) return null;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    if (t1 - t0 < MIN_SPAN_MS) return null;
    return ((b1 - b0) * 1000) / (t1 - t0);
  }

  /** Milliseconds since the first sample. */
  elapsed(now = performance.now()) {
    return this.started === null ? 0 : now - this.started;
  }
}

/** Seconds left at `rate` bytes/s, or null when unknown (no rate yet, or stalled). */
export function secondsLeft(remaining, rate) {
  if (rate === null || rate <= 0) return remaining <= 0 ? 0 : null;
  return remaining / rate;
}

/** "3.2 MB of 10 MB · 1.5 MB/s · about 5 s left" (the rate and time once known). */
export function describeProgress(done, total, rate) {
  const parts = [`${formatBytes(done)} of ${formatBytes(total)}`];
  if (rate !== null) {
    parts.push(`${formatBytes(Math.round(rate))}/s`);
    const left = secondsLeft(total - done, rate);
    if (left !== null && done < total) parts.push(`about ${formatDuration(left)} left`);
  }
  return parts.join(" · ");
}

/** "10 MB in 4.2 s (2.4 MB/s)": a finished transfer. */
export function describeDone(total, elapsedMs) {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? formatBytes(Math.round(total / seconds)) : null;
  return `${formatBytes(total)} in ${formatDuration(seconds)}${rate ? ` (${rate}/s)` : ""}`;
}

export interface BenchResult {
  bench: string;
  case: string;
  metrics: Record<string, number>;
  /** What ran beside Lookout in the same process and run, for comparison. */
  baseline: string;
}

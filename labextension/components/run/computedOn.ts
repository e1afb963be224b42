import type { MetricData } from '../../types';

/** "computed on <dataset> (<context>, <digest>)", or that it was not recorded. */
export function computedOn(data: MetricData | null | undefined): string {
  if (!data || !data.dataset) {
    return 'computed on: not recorded';
  }
  const extra = [data.context, data.digest ? data.digest.slice(0, 8) : null].filter(Boolean).join(', ');
  return `computed on ${data.dataset}${extra ? ` (${extra})` : ''}`;
}
